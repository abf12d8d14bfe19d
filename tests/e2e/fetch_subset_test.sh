# fetch_subset at toy size through the CLI: its documented tables, outputs
# with the right counts, a cached rerun, a thread count that changes no
# byte, --set seed=2 changing the data, and a valid preview PNG.
source "$(dirname "$0")/lib.sh"

pd tasks fetch_subset; expect_rc 0
expect_out "partner_noise"; expect_out "noise_sigma"; expect_out "preview"; expect_out "pope"

cat > g.dag <<'DAG'
param seed = 1
param threads = 2
task subset = fetch_subset {
  train   = 200
  eval    = 50
  seed    = seed
  threads = threads
}
DAG
pd run g.dag -j 2 --progress=plain; expect_rc 0; expect_counts 1 0; expect_ran subset

# path OUTPUT [--set ...]: where the cache holds subset's OUTPUT.
path() { local o=$1; shift; pd show g.dag "subset.$o" "$@"; [ "$rc" = 0 ] || fail "show subset.$o"; cat "$T/out"; }
lines() { wc -l < "$1" | tr -d ' '; }
train=$(path train); evald=$(path eval); pope=$(path pope); world=$(path world); preview=$(path preview)

[ "$(lines "$train/items.jsonl")" = 200 ] || fail "train has $(lines "$train/items.jsonl") items"
[ "$(lines "$train/index.tsv")" = 201 ] || fail "train index has $(lines "$train/index.tsv") lines"
[ "$(lines "$evald/items.jsonl")" = 50 ] || fail "eval has $(lines "$evald/items.jsonl") items"
head -n 1 "$train/items.jsonl" | grep -qF '"conversations":[{"from":"human","value":"<image>\nDescribe this image."}' ||
  fail "train items are not LLaVA conversations"
grep -qF '"noise":true' "$train/items.jsonl" || fail "no label noise in train"
! grep -qF '"noise":true' "$evald/items.jsonl" || fail "label noise in eval"
checks=$((checks + 6))

# images.safetensors: 8-byte header length, header, 200 x 32 x 32 x 3 bytes.
for split in "$train:200" "$evald:50"; do
  f=${split%:*}/images.safetensors; n=${split#*:}
  hlen=$(od -An -t u8 -N 8 "$f" | tr -d ' ')
  [ "$(stat -c %s "$f")" = $((8 + hlen + n * 3072)) ] || fail "$f: size does not match $n images"
  head -c $((8 + hlen)) "$f" | tail -c "$hlen" | grep -qF "\"shape\":[$n,32,32,3]" || fail "$f: shape"
  checks=$((checks + 2))
done

# POPE: per image up to 3 yes and exactly 3 no, in each of three files.
for s in random popular adversarial; do
  f=$pope/$s.jsonl; n=$(lines "$f")
  [ "$n" -ge 200 ] && [ "$n" -le 300 ] || fail "$s.jsonl has $n questions"
  [ "$(grep -c '"label":"no"' "$f")" = 150 ] || fail "$s.jsonl: not 3 absent objects per image"
  checks=$((checks + 2))
done
grep -qF '"images":200' "$world" || fail "world.json lacks the train statistics"
grep -qF '"label_noise":{"configured":0.6' "$world" || fail "world.json lacks the noise rate"
checks=$((checks + 2))

# preview: PNG signature, IHDR, 4 columns of 4x images.
[ "$(head -c 8 "$preview" | od -An -t x1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "preview is not a PNG"
[ "$(head -c 16 "$preview" | tail -c 4)" = IHDR ] || fail "preview lacks IHDR"
w=$(head -c 20 "$preview" | tail -c 4 | od -An -t u1 | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
h=$(head -c 24 "$preview" | tail -c 4 | od -An -t u1 | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
[ "$w" = $((8 + 4 * (128 + 8))) ] || fail "preview is $w pixels wide"
[ "$h" -ge 500 ] && [ "$h" -le 900 ] || fail "preview is $h pixels high"
checks=$((checks + 4))

sums() { (cd "$train" && sha256sum items.jsonl images.safetensors); sha256sum < "$world"; sha256sum < "$preview"; }
before=$(sums)

# A rerun is cached; threads schedules only (not in the key).
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 1
pd run g.dag --set threads=1 --progress=plain; expect_rc 0; expect_counts 0 1
# Forced to execute again with 1 thread: the same bytes.
export POVID_CACHE_SALT=one-thread
pd run g.dag --set threads=1 --progress=plain; expect_rc 0; expect_counts 1 0
train=$(path train); world=$(path world); preview=$(path preview)
[ "$(sums)" = "$before" ] || fail "1 and 2 threads gave different bytes"
unset POVID_CACHE_SALT

# Another seed: other data.
pd run g.dag --set seed=2 --progress=plain; expect_rc 0; expect_counts 1 0
train=$(path train --set seed=2); world=$(path world --set seed=2); preview=$(path preview --set seed=2)
after=$(sums)
[ "$(echo "$before" | head -n 1)" != "$(echo "$after" | head -n 1)" ] || fail "seed=2 gave the same items"
[ "$(echo "$before" | sed -n 2p)" != "$(echo "$after" | sed -n 2p)" ] || fail "seed=2 gave the same images"
[ "$(lines "$train/items.jsonl")" = 200 ] || fail "seed=2: train has $(lines "$train/items.jsonl") items"
checks=$((checks + 4))

# Sources not supported yet and unknown ones fail when the graph loads.
cat > bad.dag <<'DAG'
task s = fetch_subset {
  source = "llava:data/llava_instruct.json"
}
DAG
pd run bad.dag; expect_rc 2; expect_err "bad.dag:2:12: error: source 'llava:data/llava_instruct.json' is not supported yet"
sed -i 's|llava:data/llava_instruct.json|coco|' bad.dag
pd run bad.dag; expect_rc 2; expect_err "bad.dag:2:12: error: unknown source 'coco'"
finish
