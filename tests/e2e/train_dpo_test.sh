# train_dpo through the CLI: fetch_subset -> train_sft (tiny) ->
# corrupt_captions + distort_images -> train_dpo. Checks: the metrics' first
# step is exactly ln 2 (policy = reference), training raises the margins and
# preference accuracy, the outputs' formats, a cached rerun, the reference
# log-probs served from the memo give the same bytes as computed ones, a
# killed run resumes to the bytes of an uninterrupted one, and bad input.
source "$(dirname "$0")/lib.sh"

pd tasks train_dpo; expect_rc 0
expect_out "dispreference"; expect_out "noise_scoring"; expect_out "sft_w"; expect_out "reference"

cat > g.dag <<'DAG'
param disp = "both"
param lr = 0.003
param steps = 24
param th = 1
task subset = fetch_subset {
  train = 48
  eval  = 4
}
task corrupted = corrupt_captions {
  data  = subset.train
  world = subset.world
}
task noisy = distort_images {
  images = subset.train
  draws  = 2
}
task sft = train_sft {
  data       = subset.train
  patch_size = 8
  v_width    = 16
  v_layers   = 2
  v_heads    = 2
  v_mlp      = 32
  width      = 32
  layers     = 2
  heads      = 2
  hidden     = 64
  batch      = 8
  max_len    = 32
  steps      = 30
  lr         = 0.003
}
task dpo = train_dpo {
  model         = sft.model
  pairs         = corrupted.pairs
  data          = subset.train
  noisy         = noisy.noisy
  dispreference = disp
  batch         = 4
  steps         = steps
  warmup        = 2
  lr            = lr
  max_len       = 32
  checkpoint_every = 4
  threads       = th
}
DAG
pd run g.dag --progress=plain; expect_rc 0; expect_counts 5 0
path() { local o=$1; shift; pd show g.dag "dpo.$o" "$@"; [ "$rc" = 0 ] || fail "show dpo.$o"; cat "$T/out"; }
model=$(path model); metrics=$(path metrics)
[ -f "$model/model.safetensors" ] && [ -f "$model/vocab.json" ] || fail "model/ lacks files"
cmp "$model/vocab.json" "$(pd show g.dag sft.model; cat "$T/out")/vocab.json" || fail "vocab.json differs from the SFT model's"
head -n 1 "$metrics" | grep -q $'^step\tloss\tloss_text\treward_text\tmargin_text\tacc_text\tloss_image' ||
  fail "metrics header: $(head -n 1 "$metrics")"
[ "$(wc -l < "$metrics")" = 25 ] || fail "metrics has $(wc -l < "$metrics") lines"
# Step 1: the policy is the reference: loss ln 2, margins 0 (to float
# rounding: the two are computed in batches of other shapes).
awk -F'\t' 'function abs(v) { return v < 0 ? -v : v }
            NR == 2 { exit !(abs($2 - 0.693147) < 1e-5 && abs($5) < 1e-4 && abs($9) < 1e-4) }' "$metrics" ||
  fail "step 1 is not ln 2 with zero margins: $(sed -n 2p "$metrics")"
# Training raises both margins and the accuracies (last third vs first third).
awk -F'\t' 'NR > 1 && NR <= 9 { m1 += $5 + $9; a1 += $6 + $10 }
            NR > 17 { m2 += $5 + $9; a2 += $6 + $10 }
            END { exit !(m2 > m1 && a2 > a1 && a2 / 16 > 0.5) }' "$metrics" ||
  fail "margins / accuracies did not rise: $(cat "$metrics")"
checks=$((checks + 5))
before=$(sha256sum < "$model/model.safetensors")

pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 5

# On 2 threads (not in the key: forced by a salt) the policy's two shards
# run at once: the same bytes.
POVID_CACHE_SALT=two-threads pd run g.dag -j 2 --set th=2 --progress=plain; expect_rc 0
expect_ran dpo
[ "$(POVID_CACHE_SALT=two-threads pd show g.dag dpo.model --set th=2; sha256sum < "$(cat "$T/out")/model.safetensors")" = "$before" ] ||
  fail "2 threads gave other bytes than 1"
checks=$((checks + 1))

# Text-only in a fresh cache first fills the reference memo; "both" then
# serves the fixed rows' reference log-probs from it: the same bytes.
pd run g.dag --cache c2 --set disp=text --progress=plain; expect_rc 0
grep -q "^step	loss	loss_text	reward_text	margin_text	acc_text	reward_chosen" "$(path metrics --cache c2 --set disp=text)" ||
  fail "text-only metrics have other columns"
pd run g.dag --cache c2 --progress=plain; expect_rc 0; expect_counts 1 4
[ "$(sha256sum < "$(path model --cache c2)/model.safetensors")" = "$before" ] ||
  fail "reference log-probs from the memo changed the model"
checks=$((checks + 2))

# Killed after a checkpoint, the rerun resumes and ends with the same bytes.
export POVID_KEEP_TMP=1
"$POVID_DAG" run g.dag --cache c3 --set steps=80 --progress=plain >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 1200); do
  grep -qs "checkpoint at step" .povid/tmp/dpo*/log c3/tmp/dpo*/log && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
logs() { cat c3/tmp/dpo*/log 2>/dev/null; }
logs | grep -q "checkpoint at step" || fail "no checkpoint in the task's log"
kill -9 "$pid" 2>/dev/null || fail "the run ended before it could be killed"
wait "$pid" 2>/dev/null || true
logs | grep -q "trained in" && fail "the killed run had finished training"
rm -rf c3/tmp/dpo*
pd run g.dag --cache c3 --set steps=80 --progress=plain; expect_rc 0; expect_ran dpo
logs | grep -q "resumed from step [1-9]" || fail "the rerun did not resume: $(logs)"
unset POVID_KEEP_TMP
pd run g.dag --cache c4 --set steps=80 --progress=plain; expect_rc 0
cmp "$(path model --cache c3 --set steps=80)/model.safetensors" \
    "$(path model --cache c4 --set steps=80)/model.safetensors" ||
  fail "the resumed run's model differs from an uninterrupted run's"
cmp "$(path metrics --cache c3 --set steps=80)" "$(path metrics --cache c4 --set steps=80)" ||
  fail "the resumed run's metrics differ"
checks=$((checks + 4))

# image without noisy: a graph error at the parameter.
cat > bad.dag <<'DAG'
task dpo = train_dpo {
  model = dir("m")
  pairs = dir("p")
  data  = dir("d")
  dispreference = "image"
}
DAG
mkdir -p m p d
pd run bad.dag; expect_rc 2; expect_err "bad.dag:5:"; expect_err "needs 'noisy'"
# A pairs file naming an image the split lacks: the error names file and line.
pd show g.dag sft.model; sft=$(cat "$T/out")
pd show g.dag subset.train; train=$(cat "$T/out")
printf '{"image":"nope","prompt":"<image>\\nDescribe this image.","chosen":"a","rejected":"b"}\n' > p/pairs.jsonl
cat > bad2.dag <<DAG
task dpo = train_dpo {
  model = dir("$sft")
  pairs = dir("p")
  data  = dir("$train")
  dispreference = "text"
}
DAG
pd run bad2.dag; expect_rc 1; expect_err "pairs.jsonl':1: image 'nope' is not in the data images"
finish
