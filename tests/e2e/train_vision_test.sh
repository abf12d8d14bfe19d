# train_vision through the CLI: fetch_subset (128 training, 32 eval images)
# -> train_vision (a tiny tower, 30 steps), its documented table, the
# outputs in the documented formats (a full LLaVA checkpoint, metrics JSON),
# a cached rerun, objective = "patches" (per-patch labels from the boxes),
# and a bad input named in the error.
source "$(dirname "$0")/lib.sh"

pd tasks train_vision; expect_rc 0
expect_out "feature_layer"; expect_out "eval"; expect_out "metrics"
pd tasks; expect_out "train_vision"

cat > g.dag <<'DAG'
task subset = fetch_subset {
  train = 128
  eval  = 32
}
task vis = train_vision {
  data       = subset.train
  eval       = subset.eval
  patch_size = 8
  v_width    = 32
  v_layers   = 2
  v_heads    = 2
  v_mlp      = 64
  width      = 16
  layers     = 1
  heads      = 2
  hidden     = 32
  vocab      = 16
  batch      = 16
  steps      = 30
  lr         = 0.003
}
DAG
pd run g.dag -j 2 --progress=plain; expect_rc 0; expect_counts 2 0; expect_ran subset vis

path() { local o=$1; shift; pd show g.dag "vis.$o" "$@"; [ "$rc" = 0 ] || fail "show vis.$o"; cat "$T/out"; }
model=$(path model); metrics=$(path metrics)

f=$model/model.safetensors
[ -f "$f" ] || fail "no $f"
hlen=$(od -An -t u8 -N 8 "$f" | tr -d ' ')
header=$(head -c $((8 + hlen)) "$f" | tail -c "$hlen")
grep -qF '"vision_tower.vision_model.embeddings.patch_embedding.weight"' <<<"$header" || fail "$f: no patch embedding"
grep -qF '"language_model.lm_head.weight"' <<<"$header" || fail "$f: not a full checkpoint (no lm_head)"
grep -qF '"llava.v_width":"32"' <<<"$header" || fail "$f: v_width is not 32 in the metadata"
checks=$((checks + 3))

# metrics: eval slots = 4 x 32; colour accuracy above the majority baseline
# after 30 steps; the loss went down.
grep -qF '"eval": {"slots": 128,' "$metrics" || fail "metrics: $(cat "$metrics")"
num() { grep -F "\"$1\":" "$metrics" | sed -E "s/.*\"$2\": ([0-9.]+).*/\1/"; }
col=$(num train colour_accuracy); mcol=$(num majority_baseline colour_accuracy)
first=$(num loss first_quarter_mean); last=$(num loss last_quarter_mean)
awk -v a="$col" -v b="$mcol" 'BEGIN { exit !(a > b + 0.1) }' ||
  fail "colour accuracy $col not above the baseline $mcol"
awk -v a="$last" -v b="$first" 'BEGIN { exit !(a < b) }' || fail "the loss did not go down: $first -> $last"
checks=$((checks + 3))

pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 2

# objective = "patches": one unit per patch (128 eval patches x 16), the
# occupied ones those inside an object's box; it learns colour; other bytes.
sed 's/  lr         = 0.003/  lr         = 0.003\n  objective  = "patches"/' g.dag > gp.dag
pd run gp.dag --progress=plain; expect_rc 0; expect_counts 1 1
pm=$(pd show gp.dag vis.metrics >/dev/null; cat "$T/out")
grep -qF '"objective": "patches"' "$pm" || fail "patches metrics: $(cat "$pm")"
grep -qF '"eval": {"slots": 512,' "$pm" || fail "patches metrics count: $(cat "$pm")"
metrics=$pm
occ=$(grep -F '"eval":' "$pm" | sed -E 's/.*"occupied_slots": ([0-9]+).*/\1/')
awk -v o="$occ" 'BEGIN { exit !(o > 0 && o < 512) }' || fail "occupied patches: $occ"
col=$(num train colour_accuracy); mcol=$(num majority_baseline colour_accuracy)
awk -v a="$col" -v b="$mcol" 'BEGIN { exit !(a > b) }' ||
  fail "patches: colour accuracy $col not above the baseline $mcol"
cmp -s "$model/model.safetensors" "$(pd show gp.dag vis.model >/dev/null; cat "$T/out")/model.safetensors" &&
  fail "the patches objective gave the same tower"
checks=$((checks + 5))

mkdir empty
cat > bad.dag <<'DAG'
task vis = train_vision {
  data = dir("empty")
  eval = dir("empty")
}
DAG
pd run bad.dag; expect_rc 1; expect_err "error: task 'vis'"; expect_err "images.safetensors"
finish
