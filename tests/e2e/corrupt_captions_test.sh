# corrupt_captions through the CLI: fetch_subset (toy size) ->
# corrupt_captions, its documented tables, pairs and summary in the
# documented format (every rejected answer differs from the chosen one,
# chosen answers free of label noise), a cached rerun, the same bytes with 1
# thread, --set seed=2 rerunning only corrupt_captions, questions = true,
# bad input named with file and line, and the openai backend without model/base_url refused.
source "$(dirname "$0")/lib.sh"

pd tasks corrupt_captions; expect_rc 0
expect_out "recolour"; expect_out "rules|openai"; expect_out "questions"; expect_out "summary"
pd tasks; expect_out "corrupt_captions"

cat > g.dag <<'DAG'
param seed = 1
param threads = 2
task subset = fetch_subset {
  train = 200
  eval  = 20
}
task text = corrupt_captions {
  data    = subset.train
  world   = subset.world
  seed    = seed
  threads = threads
}
DAG
pd run g.dag -j 2 --progress=plain; expect_rc 0; expect_counts 2 0; expect_ran subset text

path() { local o=$1; shift; pd show g.dag "text.$o" "$@"; [ "$rc" = 0 ] || fail "show text.$o"; cat "$T/out"; }
pairs=$(path pairs)/pairs.jsonl; summary=$(path summary)

# One pair per item, in order, in the documented fields.
[ "$(wc -l < "$pairs")" = 200 ] || fail "pairs.jsonl has $(wc -l < "$pairs") lines"
head -n 1 "$pairs" | grep -qE '^\{"id":"train-000000","image":"train-000000","turn":1,"prompt":"<image>\\nDescribe this image.","chosen":"There is [^"]*\.","rejected":"There is [^"]*\.","edits":\[\{"kind":"(insert|replace|recolour|move)","object":"[a-z ]+","detail":"[^"]+"\}\]\}$' ||
  fail "first pair: $(head -n 1 "$pairs")"
tail -n 1 "$pairs" | grep -qF '"id":"train-000199"' || fail "last pair is not train-000199"
checks=$((checks + 3))

# rejected != chosen on every line.
both=$(sed -nE 's/.*"chosen":("[^"]*"),"rejected":("[^"]*").*/\1\t\2/p' "$pairs")
[ "$(wc -l <<<"$both")" = 200 ] || fail "not every pair has chosen and rejected"
same=$(awk -F'\t' '$1 == $2' <<<"$both" | wc -l)
[ "$same" = 0 ] || fail "$same pairs have rejected = chosen"
# Chosen answers carry no label noise: train-000000's description names a
# noisy frame (fetch_subset seed 1); its chosen answer does not.
train=$(pd show g.dag subset.train && cat "$T/out")
head -n 1 "$train/items.jsonl" | grep -qF '"category":"frame","colour":"green","position":"top left","noise":true' ||
  fail "train-000000 is not the noisy item this test expects"
head -n 1 "$pairs" | grep -qF '"chosen":"There is a white ring in the bottom left and a blue square in the bottom right."' ||
  fail "chosen answer of train-000000 keeps the label noise: $(head -n 1 "$pairs")"
checks=$((checks + 4))

# Summary: counts add up, nothing skipped on the built-in world.
grep -qF '"items":200,"pairs":200,"description_pairs":200,"question_pairs":0' "$summary" || fail "summary counts: $(cat "$summary")"
grep -qF '"skipped":{"answers":0,"items":0' "$summary" || fail "summary skips: $(cat "$summary")"
grep -qF '"mix":{"insert":0.4000,"replace":0.2000,"recolour":0.2000,"move":0.2000}' "$summary" || fail "summary mix"
n=$(grep -oE '"edits":\{"insert":[0-9]+,"replace":[0-9]+,"recolour":[0-9]+,"move":[0-9]+' "$summary" | grep -oE '[0-9]+' | awk '{s += $1} END {print s}')
[ "$n" = 200 ] || fail "summary edits add up to $n"
checks=$((checks + 4))

before=$(sha256sum < "$pairs")

# A rerun is cached; threads is scheduling only.
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 2
pd run g.dag --set threads=1 --progress=plain; expect_rc 0; expect_counts 0 2
# Forced to execute again with 1 thread: the same bytes.
export POVID_CACHE_SALT=one-thread
pd run g.dag --set threads=1 --progress=plain; expect_rc 0; expect_counts 2 0
[ "$(sha256sum < "$(path pairs)/pairs.jsonl")" = "$before" ] || fail "1 and 2 threads gave different pairs"
checks=$((checks + 1))
unset POVID_CACHE_SALT

# Another seed reruns corrupt_captions only; its pairs differ, the chosen
# answers do not.
pd run g.dag --set seed=2 --progress=plain; expect_rc 0; expect_counts 1 1
expect_ran text; expect_not_ran subset
p2=$(path pairs --set seed=2)/pairs.jsonl
[ "$(sha256sum < "$p2")" != "$before" ] || fail "seed=2 gave the same pairs"
chosen() { sed -E 's/.*"chosen":("[^"]*").*/\1/' "$1"; }
[ "$(chosen "$p2" | sha256sum)" = "$(chosen "$pairs" | sha256sum)" ] || fail "seed=2 changed the chosen answers"
checks=$((checks + 2))
pd run g.dag --set seed=2 --progress=plain; expect_rc 0; expect_counts 0 2

# questions = true: two more pairs per item, flipped answers.
cat >> g.dag <<'DAG'
task qa = corrupt_captions {
  data      = subset.train
  world     = subset.world
  questions = true
  edits     = 2
}
DAG
pd run g.dag qa --progress=plain; expect_rc 0; expect_counts 1 1
pd show g.dag qa.pairs; q=$(cat "$T/out")/pairs.jsonl
[ "$(wc -l < "$q")" = 600 ] || fail "questions: $(wc -l < "$q") pairs"
[ "$(grep -c '"kind":"flip"' "$q")" = 400 ] || fail "questions: not 400 flips"
grep -qE '"id":"train-000000-t3","image":"train-000000","turn":3,"prompt":"<image>\\nIs there a [a-z]+ in the image\?","chosen":"(Yes|No)\.","rejected":"(No|Yes)\."' "$q" ||
  fail "questions: no flipped pair for train-000000's turn 3"
! grep -qE '"chosen":"Yes\.","rejected":"Yes\.|"chosen":"No\.","rejected":"No\.' "$q" || fail "an unflipped answer"
checks=$((checks + 4))

# Bad input: the error names the file and the line.
head -n 2 "$train/items.jsonl" > items.jsonl
echo '{"id": "broken", ' >> items.jsonl
pd show g.dag subset.world; cp "$(cat "$T/out")" world.json
cat > bad.dag <<'DAG'
task text = corrupt_captions {
  data  = file("items.jsonl")
  world = file("world.json")
}
DAG
pd run bad.dag; expect_rc 1; expect_err "error: task 'text'"; expect_err "items.jsonl':3: not a JSON object"
sed -i 's|data  = file("items.jsonl")|data  = file("items.jsonl")\n  backend = "openai"|' bad.dag
pd run bad.dag; expect_rc 2; expect_err "backend \"openai\" needs 'model' and 'base_url'"
sed -i 's|backend = "openai"|insert = 0\n  replace = 0\n  recolour = 0\n  move = 0|' bad.dag
pd run bad.dag; expect_rc 2; expect_err "the edit weights insert, replace, recolour and move sum to 0"
finish
