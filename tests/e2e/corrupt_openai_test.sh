# corrupt_captions backend = "openai" against the fake chat server
# (tests/fakes/chat_server.py) on loopback: outputs and usage counted, a
# cached rerun, a prompt edit reruns and re-requests, the per-item memo
# serving a forced rerun, faults (429 + Retry-After, 500, reset, malformed
# JSON) retried, kill -9 halfway resumes without asking twice for a
# finished item, replay offline (and its clear error for a missing item), a
# missing key variable for a remote URL, and the key never stored.
source "$(dirname "$0")/lib.sh"
: "${PD_SRC:?PD_SRC must name the source directory}"

SRV_PID=
# start_server ARGS...: the fake server, its port in $PORT. Its stdin is
# our pipe: it stops when this script dies (--watch-stdin).
start_server() {
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
stats() { curl -s "http://127.0.0.1:$PORT/stats"; }
posts() { stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["posts"])'; }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [d := d[k] for k in sys.argv[2:]]; print(d)' "$@"; }

export PD_FAKE_KEY="sk-test-do-not-store-4f1c9a"
printf 'Rewrite with a hallucination: {answer}\nObjects: {objects}\n' > corrupt.txt

write_dag() { # PORT [extra lines]
  cat > g.dag <<DAG
task subset = fetch_subset {
  train = 20
  eval  = 0
}
task text = corrupt_captions {
  data    = subset.train
  world   = subset.world
  backend = "openai"
  base_url = "http://127.0.0.1:$1/v1"
  model   = "fake-vision"
  api_key_env = "PD_FAKE_KEY"
  prompt  = file("corrupt.txt")
  concurrency = ${CONC:-4}
  threads = 0
  price_prompt = 2.5
  price_completion = 10
  ${2:-}
}
DAG
}
path() { pd show g.dag "text.$1"; [ "$rc" = 0 ] || fail "show text.$1"; cat "$T/out"; }

# --- a plain run: 20 pairs, 20 requests, usage and cost in the summary.
start_server
write_dag "$PORT"
pd run g.dag --progress=plain; expect_rc 0; expect_counts 2 0
pairs=$(path pairs)/pairs.jsonl; summary=$(path summary)
[ "$(wc -l < "$pairs")" = 20 ] || fail "pairs.jsonl has $(wc -l < "$pairs") lines"
head -n 1 "$pairs" | grep -qE '^\{"id":"train-000000","image":"train-000000","turn":1,"prompt":"<image>\\nDescribe this image.","chosen":"There is [^"]*\.","rejected":"reply to: [^"]*Rewrite with a hallucination: There is .*,"edits":\[\{"kind":"api","object":"","detail":"fake-vision"\}\]\}$' ||
  fail "first pair: $(head -c 400 "$pairs")"
# The image went along as a PNG data URL.
grep -qF "data:image/png;base64,iVBORw0KGgo" "$pairs" || fail "no PNG data URL in the request"
[ "$(jget "$summary" requests)" = 20 ] || fail "requests: $(cat "$summary")"
[ "$(jget "$summary" retries)" = 0 ] || fail "retries: $(cat "$summary")"
[ "$(jget "$summary" memo_hits)" = 0 ] || fail "memo hits: $(cat "$summary")"
ptok=$(jget "$summary" usage prompt_tokens); ctok=$(jget "$summary" usage completion_tokens)
[ "$ptok" -gt 0 ] && [ "$ctok" -gt 0 ] || fail "usage: $(cat "$summary")"
jget "$summary" cost dollars | grep -qE '^[0-9.e-]+$' || fail "cost: $(cat "$summary")"
[ "$(posts)" = 20 ] || fail "server saw $(posts) posts, expected 20"
checks=$((checks + 9))
echo "measured: prompt_tokens=$ptok completion_tokens=$ctok per 20 answers; $(jget "$summary" cost)"

# --- a rerun is cached: no request.
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 2
[ "$(posts)" = 20 ] || fail "a cached rerun asked the server"
# --- forced to execute again (salt): the memo answers every item.
POVID_CACHE_SALT=memo pd run g.dag --progress=plain; expect_rc 0; expect_counts 2 0
s2=$(POVID_CACHE_SALT=memo path summary)
[ "$(jget "$s2" memo_hits)" = 20 ] && [ "$(jget "$s2" requests)" = 0 ] || fail "memo: $(cat "$s2")"
[ "$(posts)" = 20 ] || fail "the memoized rerun asked the server"
cmp -s "$(POVID_CACHE_SALT=memo path pairs)/pairs.jsonl" "$pairs" || fail "memoized pairs differ"
# --- a prompt edit reruns corrupt_captions only, with new requests.
echo 'Be creative.' >> corrupt.txt
pd run g.dag --progress=plain; expect_rc 0; expect_counts 1 1; expect_ran text
[ "$(posts)" = 40 ] || fail "the new prompt made $(posts) posts in all, expected 40"
grep -qF 'Be creative.' "$(path pairs)/pairs.jsonl" || fail "the new prompt was not sent"
checks=$((checks + 6))
stop_server

# --- faults: each retried, counted, nothing broken memoized.
echo '["429; retry-after=1", "500", "reset", "malformed", "blank"]' > plan.json
start_server --fault-plan plan.json
write_dag "$PORT"
pd run g.dag --progress=plain; expect_rc 0; expect_counts 1 1
summary=$(path summary)
[ "$(jget "$summary" retries)" = 5 ] || fail "retries: $(cat "$summary")"
[ "$(jget "$summary" requests)" = 25 ] || fail "requests: $(cat "$summary")"
[ "$(wc -l < "$(path pairs)/pairs.jsonl")" = 20 ] || fail "pairs after faults"
[ "$(posts)" = 25 ] || fail "server saw $(posts) posts, expected 25"
checks=$((checks + 4))
stop_server

# --- kill -9 halfway; the rerun asks only for what was not answered.
start_server --latency-ms 300
CONC=2 write_dag "$PORT"
set +e
"$POVID_DAG" run g.dag >"$T/out" 2>"$T/err" &
run_pid=$!
set -e
for _ in $(seq 1 200); do
  n=$(posts); [ "$n" -ge 8 ] && break; sleep 0.05
done
kill -9 "$run_pid" || fail "the run ended before the kill"; wait "$run_pid" 2>/dev/null || true
before=$(posts)
[ "$before" -ge 8 ] && [ "$before" -lt 20 ] || fail "killed after $before posts"
pd run g.dag --progress=plain; expect_rc 0
summary=$(path summary)
stats > stats.json
python3 - "$before" stats.json "$summary" <<'PY' || fail "kill/resume: $(cat stats.json)"
import json, sys
before, st, sm = int(sys.argv[1]), json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
counts = list(st["by_key"].values())
twice = sum(1 for c in counts if c == 2)
# 20 distinct bodies; at most the 2 in flight at the kill asked twice.
assert len(counts) == 20 and max(counts) <= 2 and twice <= 2, counts
assert st["posts"] == 20 + twice, st["posts"]
assert sm["memo_hits"] >= before - 2 and sm["memo_hits"] + sm["responses"] == 20, sm
print("kill -9 after %d posts: %d memo hits, %d asked twice (in flight)" % (before, sm["memo_hits"], twice))
PY
checks=$((checks + 3))
stop_server

# --- replay: offline from the memo (the server is gone) ...
CONC=2 write_dag "$PORT" "replay = true"
pd run g.dag --progress=plain; expect_rc 0; expect_counts 1 1
summary=$(path summary)
[ "$(jget "$summary" memo_hits)" = 20 ] && [ "$(jget "$summary" requests)" = 0 ] || fail "replay: $(cat "$summary")"
# ... and a clear error for an item never asked.
sed -i 's/train = 20/train = 21/' g.dag
pd run g.dag; expect_rc 1; expect_err "replay: no memoized response for item 'train-000020'"
checks=$((checks + 1))

# --- a remote URL with the key variable unset: a clear error, nothing sent.
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
pd run remote.dag; expect_rc 1
expect_err "environment variable 'PD_TEST_NO_SUCH_KEY' (api_key_env) is not set"

# --- the key is nowhere: cache (index, blobs, logs) nor run records.
! grep -rqaF "$PD_FAKE_KEY" .povid || fail "the API key is stored under .povid"
pd log --json; expect_rc 0
! grep -qF "$PD_FAKE_KEY" "$T/out" "$T/err" || fail "the API key is in the run records"
checks=$((checks + 2))
finish
