# distort_images through the CLI: fetch_subset (toy size) -> distort_images,
# its documented tables, outputs in the documented format, a cached rerun,
# --set step=250 rerunning only distort, the same bytes with 1 thread, bad
# input named in the error, and device = "cuda" failing clearly where there
# is no GPU.
source "$(dirname "$0")/lib.sh"

pd tasks distort_images; expect_rc 0
expect_out "schedule"; expect_out "sigmoid|linear"; expect_out "clamp"; expect_out "grid"
pd tasks; expect_out "distort_images"

cat > g.dag <<'DAG'
param step = 500
param threads = 2
task subset = fetch_subset {
  train = 60
  eval  = 10
}
task noisy = distort_images {
  images  = subset.train
  step    = step
  draws   = 2
  threads = threads
}
DAG
pd run g.dag -j 2 --progress=plain; expect_rc 0; expect_counts 2 0; expect_ran subset noisy

path() { local o=$1; shift; pd show g.dag "noisy.$o" "$@"; [ "$rc" = 0 ] || fail "show noisy.$o"; cat "$T/out"; }
noisy=$(path noisy); preview=$(path preview); grid=$(path grid)

# images.safetensors: F32 [120, 32, 32, 3] after an 8-byte length and the header.
f=$noisy/images.safetensors
hlen=$(od -An -t u8 -N 8 "$f" | tr -d ' ')
header=$(head -c $((8 + hlen)) "$f" | tail -c "$hlen")
[ "$(stat -c %s "$f")" = $((8 + hlen + 120 * 3072 * 4)) ] || fail "$f: size does not match 120 F32 images"
grep -qF '"dtype":"F32","shape":[120,32,32,3]' <<<"$header" || fail "$f: dtype/shape: $header"
grep -qF '"step":"500"' <<<"$header" || fail "$f: no step in the metadata"
grep -qF '"schedule":"sigmoid"' <<<"$header" || fail "$f: no schedule in the metadata"
grep -qF '"sqrt_abar":"0.863017' <<<"$header" || fail "$f: sqrt_abar is not 0.863017..."
checks=$((checks + 5))

# index.tsv: header, then (image, draw) -> row for 60 x 2 rows.
[ "$(wc -l < "$noisy/index.tsv")" = 121 ] || fail "index.tsv has $(wc -l < "$noisy/index.tsv") lines"
[ "$(sed -n 2p "$noisy/index.tsv")" = "$(printf 'train-000000\t0\t0')" ] || fail "index.tsv row 0"
[ "$(tail -n 1 "$noisy/index.tsv")" = "$(printf 'train-000059\t1\t119')" ] || fail "index.tsv last row"
checks=$((checks + 3))

# preview and grid: PNGs; the grid is 6 cells of 4x images in one row.
png_w() { head -c 20 "$1" | tail -c 4 | od -An -t u1 | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}'; }
for p in "$preview" "$grid"; do
  [ "$(head -c 8 "$p" | od -An -t x1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$p is not a PNG"
  checks=$((checks + 1))
done
[ "$(png_w "$grid")" = $((8 + 6 * (128 + 8))) ] || fail "grid is $(png_w "$grid") pixels wide"
[ "$(png_w "$preview")" = $((8 + 3 * (128 + 8))) ] || fail "preview is $(png_w "$preview") pixels wide"
checks=$((checks + 2))

before=$(sha256sum < "$f")

# A rerun is cached; threads is scheduling only.
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 2
pd run g.dag --set threads=1 --progress=plain; expect_rc 0; expect_counts 0 2
# Forced to execute again with 1 thread: the same bytes.
export POVID_CACHE_SALT=one-thread
pd run g.dag --set threads=1 --progress=plain; expect_rc 0; expect_counts 2 0
[ "$(sha256sum < "$(path noisy)/images.safetensors")" = "$before" ] || fail "1 and 2 threads gave different bytes"
checks=$((checks + 1))
unset POVID_CACHE_SALT

# Another step reruns distort only; its images differ.
pd run g.dag --set step=250 --progress=plain; expect_rc 0; expect_counts 1 1
expect_ran noisy; expect_not_ran subset
f250=$(path noisy --set step=250)/images.safetensors
[ "$(sha256sum < "$f250")" != "$before" ] || fail "step=250 gave the same images"
head -c 4096 "$f250" | grep -qF '"step":"250"' || fail "step=250: metadata"
checks=$((checks + 2))
pd run g.dag --set step=250 --progress=plain; expect_rc 0; expect_counts 0 2

# Bad input: the error names the file.
printf 'not a tensor file' > junk.safetensors
cat > bad.dag <<'DAG'
task noisy = distort_images {
  images = file("junk.safetensors")
}
DAG
pd run bad.dag; expect_rc 1; expect_err "error: task 'noisy'"; expect_err "junk.safetensors"
cat > bad.dag <<'DAG'
task noisy = distort_images {
  images = file("junk.safetensors")
  step = 1000
}
DAG
pd run bad.dag; expect_rc 2; expect_err "parameter 'step' must be in [0, 999], got 1000"

# device = "cuda": runs where there is a CUDA build and a GPU, else fails
# saying why.
cat >> g.dag <<'DAG'
task gpu = distort_images {
  images = subset.train
  device = "cuda"
}
DAG
pd run g.dag gpu --progress=plain
if [ "$rc" = 1 ]; then
  expect_err "device 'cuda' is not available"
else
  expect_rc 0
fi
finish
