# `run --dry-run` counts, for corrupt_captions backend = "openai", how many
# answers would be requested and how many the per-item memo would serve,
# without sending anything (the fake chat server's /stats counts posts) and
# without the API key: nothing before the split exists (a blocked task gets
# no count), an empty memo, a half-filled one (10 of 20 items asked
# before) with the estimated cost, a full one after a parameter outside the
# memo key changed, replay with an item missing, a remote URL whose key
# variable is unset. The rules backend adds nothing to its line.
source "$(dirname "$0")/lib.sh"
: "${PD_SRC:?PD_SRC must name the source directory}"

SRV_PID=
start_server() { # the fake server on loopback, its port in $PORT
  coproc SRV { exec python3 "$PD_SRC/tests/fakes/chat_server.py" --watch-stdin "$@" 2>"$T/server.err"; }
  SRV_PID=$SRV_PID
  read -r PORT <&"${SRV[0]}" || fail "the fake server did not start: $(cat "$T/server.err")"
}
stop_server() {
  [ -n "$SRV_PID" ] || return 0
  kill "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=
}
trap stop_server EXIT
posts() { curl -s "http://127.0.0.1:$PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["posts"])'; }
expect_posts() { [ "$(posts)" = "$1" ] || fail "the server saw $(posts) posts, expected $1 ($2)"; checks=$((checks + 1)); }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [d := d[k] for k in sys.argv[2:]]; print(d)' "$@"; }
# line TASK: the task's line of the last dry run.
line() { grep -E "^(would run:|then:     ) $1 \(" "$T/out" || fail "no dry-run line for $1"; }
expect_line() { # TASK TEXT: the line ends with "; TEXT"
  local l; l=$(line "$1")
  [[ "$l" == *"); $2" ]] || fail "the line of $1 does not end with '; $2': $l"
  checks=$((checks + 1))
}

export PD_FAKE_KEY="sk-test-do-not-store-77d2"
printf 'Rewrite with a hallucination: {answer}\nObjects: {objects}\n' > corrupt.txt
write_dag() { # TRAIN [extra lines]
  cat > g.dag <<DAG
task subset = fetch_subset {
  train = $1
  eval  = 0
}
task text = corrupt_captions {
  data    = subset.train
  world   = subset.world
  backend = "openai"
  base_url = "http://127.0.0.1:$PORT/v1"
  model   = "fake-vision"
  api_key_env = "PD_FAKE_KEY"
  prompt  = file("corrupt.txt")
  concurrency = 4
  threads = 0
  price_prompt = ${PRICE:-2.5}
  price_completion = 10
  ${2:-}
}
task rules = corrupt_captions {
  data  = subset.train
  world = subset.world
}
DAG
}

start_server
# --- nothing exists yet: the split would run first, so no count.
write_dag 10
pd run g.dag --dry-run; expect_rc 0
line text | grep -q '^then:      text (' || fail "text should wait on subset: $(line text)"
! line text | grep -qF 'openai' || fail "a blocked task was counted: $(line text)"
# --- the split cached, the memo empty: every answer would be requested.
pd run g.dag subset; expect_rc 0
pd run g.dag --dry-run; expect_rc 0
expect_line text "openai: 10 of 10 answers would be requested, 0 served from the memo"
[[ "$(line rules)" == *")" ]] || fail "the rules backend added a note: $(line rules)"
expect_out "2 would run, 1 cached"
expect_posts 0 "a dry run asked the server"
# --- 10 items answered; with 20, half of the memo keys are there (the
# first 10 items of a split are the same whatever its size).
pd run g.dag; expect_rc 0
expect_posts 10 "the first run"
s10=$(pd show g.dag text.summary && cat "$T/out")
ptok=$(jget "$s10" usage prompt_tokens); ctok=$(jget "$s10" usage completion_tokens)
write_dag 20
pd run g.dag subset; expect_rc 0
pd run g.dag --dry-run; expect_rc 0
# The other 10 cost what the memoized ones did on average: 10 * mean.
cost=$(python3 -c "print('%.6f' % (10 * (2.5 * $ptok + 10 * $ctok) / 10 / 1e6))")
expect_line text "openai: 10 of 20 answers would be requested, 10 served from the memo, about \$$cost (the memo's mean usage per answer at the given prices)"
expect_posts 10 "a dry run asked the server"
pd run g.dag; expect_rc 0
expect_posts 20 "the second run asked for the 10 new items only"
s20=$(pd show g.dag text.summary && cat "$T/out")
[ "$(jget "$s20" memo_hits)" = 10 ] || fail "the real run disagrees with the dry run: $(cat "$s20")"
checks=$((checks + 1))
# --- a price is in the action key, not in the memo key: the task would
# run again, every answer from the memo.
PRICE=3 write_dag 20
pd run g.dag --dry-run; expect_rc 0
expect_line text "openai: 0 of 20 answers would be requested, 20 served from the memo"
expect_out "1 would run, 2 cached"
expect_posts 20 "a dry run asked the server"
# --- replay with an item the memo lacks: the run would fail, and says where.
PRICE=3 write_dag 21 "replay = true"
pd run g.dag subset; expect_rc 0
pd run g.dag --dry-run; expect_rc 0
expect_line text "openai replay: 20 of 21 answers served from the memo, 1 missing: the run would fail (first: item 'train-000020', turn 1)"
expect_posts 20 "a dry run asked the server"
pd run g.dag text; expect_rc 1; expect_err "replay: no memoized response for item 'train-000020'"
stop_server

# --- a remote URL, its key variable unset: counted all the same, nothing sent.
cat > remote.dag <<'DAG'
task subset = fetch_subset {
  train = 2
  eval  = 0
}
task text = corrupt_captions {
  data    = subset.train
  world   = subset.world
  backend = "openai"
  base_url = "https://api.example.invalid/v1"
  model   = "gpt-4o-mini"
  api_key_env = "PD_TEST_NO_SUCH_KEY"
}
DAG
unset PD_TEST_NO_SUCH_KEY
pd run remote.dag subset; expect_rc 0
pd run remote.dag --dry-run; expect_rc 0
expect_line text "openai: 2 of 2 answers would be requested, 0 served from the memo; environment variable 'PD_TEST_NO_SUCH_KEY' (api_key_env) is not set"
finish
