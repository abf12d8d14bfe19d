# train_sft through the CLI: fetch_subset (64 training images) -> train_sft
# (a tiny model, 20 steps), its documented tables, the outputs in the
# documented formats, a cached rerun, --set lr=... rerunning only
# train_sft with other weights, and a run killed (-9) after a checkpoint
# resuming from it to the bytes of an uninterrupted run.
source "$(dirname "$0")/lib.sh"

pd tasks train_sft; expect_rc 0
expect_out "vocab_size"; expect_out "max_len"; expect_out "freeze_vision"; expect_out "warmup"
pd tasks; expect_out "train_sft"

cat > g.dag <<'DAG'
param lr = 0.003
param th = 2
task subset = fetch_subset {
  train = 64
  eval  = 4
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
  steps      = 20
  warmup     = 2
  lr         = lr
  threads    = th
}
DAG
pd run g.dag -j 2 --progress=plain; expect_rc 0; expect_counts 2 0; expect_ran subset sft

path() { local o=$1; shift; pd show g.dag "sft.$o" "$@"; [ "$rc" = 0 ] || fail "show sft.$o"; cat "$T/out"; }
model=$(path model); log=$(path log)

# model/: model.safetensors (F32 tensors with HF names, the config in the
# metadata) and vocab.json (the word tokenizer, specials first).
f=$model/model.safetensors
[ -f "$f" ] || fail "no $f"
hlen=$(od -An -t u8 -N 8 "$f" | tr -d ' ')
header=$(head -c $((8 + hlen)) "$f" | tail -c "$hlen")
grep -qF '"language_model.lm_head.weight"' <<<"$header" || fail "$f: no lm_head"
grep -qF '"vision_tower.vision_model.embeddings.patch_embedding.weight"' <<<"$header" || fail "$f: no patch embedding"
grep -qF '"llava.width":"32"' <<<"$header" || fail "$f: width is not 32 in the metadata"
grep -qF '"type":"word"' "$model/vocab.json" || fail "vocab.json: no type"
grep -qF '"tokens":["<pad>","<image>","<s>","</s>","<unk>","USER:","ASSISTANT:"' "$model/vocab.json" ||
  fail "vocab.json: specials"
checks=$((checks + 6))

# log: a header and one line per step; the loss goes down.
[ "$(head -n 1 "$log")" = "$(printf 'step\tloss\tlr\tgrad_norm')" ] || fail "log header: $(head -n 1 "$log")"
[ "$(wc -l < "$log")" = 21 ] || fail "log has $(wc -l < "$log") lines"
awk -F'\t' 'NR > 1 && NR <= 6 { a += $2 } NR > 16 { b += $2 } END { exit !(b < a) }' "$log" ||
  fail "the loss did not go down: $(cat "$log")"
checks=$((checks + 3))
before=$(sha256sum < "$f")

# A rerun is cached.
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 2

# Another lr reruns train_sft only; its weights differ.
pd run g.dag --set lr=0.001 --progress=plain; expect_rc 0; expect_counts 1 1
expect_ran sft; expect_not_ran subset
[ "$(sha256sum < "$(path model --set lr=0.001)/model.safetensors")" != "$before" ] ||
  fail "lr=0.001 gave the same weights"
checks=$((checks + 1))
pd run g.dag --set lr=0.001 --progress=plain; expect_rc 0; expect_counts 0 2

# Forced to execute again: the same bytes.
export POVID_CACHE_SALT=again
pd run g.dag --progress=plain; expect_rc 0; expect_counts 2 0
[ "$(sha256sum < "$(path model)/model.safetensors")" = "$before" ] || fail "a second run gave other bytes"
checks=$((checks + 1))
# On one thread (threads is not in the key: forced by another salt): the
# batch's two shards run one after the other, the bytes stay the same.
export POVID_CACHE_SALT=one-thread
pd run g.dag --set th=1 --progress=plain; expect_rc 0; expect_counts 2 0
grep -rqs "2 shards of the batch on up to 1 threads" .povid ||
  fail "the one-thread run's log does not say so"
[ "$(sha256sum < "$(path model --set th=1)/model.safetensors")" = "$before" ] ||
  fail "1 thread gave other bytes than 2"
checks=$((checks + 2))
unset POVID_CACHE_SALT

# Checkpoints: kill -9 the run once the task's log shows a checkpoint; the
# rerun resumes from it and ends with the bytes of an uninterrupted run made
# in another cache.
mkdir ck
cat > ck/g.dag <<'DAG'
task subset = fetch_subset {
  train = 64
  eval  = 4
}
task sft = train_sft {
  data       = subset.train
  patch_size = 8
  v_width    = 32
  v_layers   = 2
  v_heads    = 2
  v_mlp      = 64
  width      = 64
  layers     = 2
  heads      = 2
  hidden     = 128
  batch      = 8
  max_len    = 32
  steps      = 60
  warmup     = 2
  checkpoint_every = 10
}
DAG
pd run ck/g.dag subset --progress=plain; expect_rc 0
export POVID_KEEP_TMP=1
"$POVID_DAG" run ck/g.dag --progress=plain >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 600); do
  grep -qs "checkpoint at step" ck/.povid/tmp/sft*/log && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
grep -qs "checkpoint at step" ck/.povid/tmp/sft*/log || fail "no checkpoint in the task's log"
kill -9 "$pid" 2>/dev/null || fail "the run ended before it could be killed"
wait "$pid" 2>/dev/null || true
grep -qs "trained in" ck/.povid/tmp/sft*/log && fail "the killed run had finished training"
rm -rf ck/.povid/tmp/sft*
pd run ck/g.dag --progress=plain; expect_rc 0; expect_ran sft
grep -qs "resumed from step [1-9]" ck/.povid/tmp/sft*/log ||
  fail "the rerun did not resume: $(cat ck/.povid/tmp/sft*/log)"
unset POVID_KEEP_TMP
pd run ck/g.dag --cache ck2 --progress=plain; expect_rc 0; expect_counts 2 0
ckpath() { pd show ck/g.dag "sft.$1" "${@:2}"; [ "$rc" = 0 ] || fail "show sft.$1"; cat "$T/out"; }
cmp "$(ckpath model)/model.safetensors" "$(ckpath model --cache ck2)/model.safetensors" ||
  fail "the resumed run's model differs from an uninterrupted run's"
cmp "$(ckpath log)" "$(ckpath log --cache ck2)" || fail "the resumed run's log differs"
checks=$((checks + 5))

# Bad input: the error names the task and the file.
mkdir empty
cat > bad.dag <<'DAG'
task sft = train_sft {
  data = dir("empty")
}
DAG
pd run bad.dag; expect_rc 1; expect_err "error: task 'sft'"; expect_err "images.safetensors"

# init = a train_vision task's model: an edge of the DAG; the tower's config
# comes from it (v_width 24 there, the task's own 16 ignored).
mkdir vi
cat > vi/g.dag <<'DAG'
task subset = fetch_subset {
  train = 32
  eval  = 8
}
task vis = train_vision {
  data = subset.train
  eval = subset.eval
  patch_size = 8
  v_width = 24
  v_layers = 2
  v_heads = 2
  v_mlp = 32
  width = 16
  layers = 1
  heads = 2
  hidden = 32
  vocab = 16
  steps = 3
}
task sft = train_sft {
  data = subset.train
  init = vis.model
  v_width = 16
  width = 32
  layers = 1
  heads = 2
  hidden = 64
  batch = 4
  max_len = 32
  steps = 3
}
DAG
pd run vi/g.dag -j 2 --progress=plain; expect_rc 0; expect_counts 3 0; expect_ran vis sft
pd show vi/g.dag sft.model; [ "$rc" = 0 ] || fail "show sft.model"
f=$(cat "$T/out")/model.safetensors
hlen=$(od -An -t u8 -N 8 "$f" | tr -d ' ')
grep -qF '"llava.v_width":"24"' <<<"$(head -c $((8 + hlen)) "$f" | tail -c "$hlen")" ||
  fail "$f: the tower's config is not the init's"
checks=$((checks + 1))
finish
