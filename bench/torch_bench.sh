#!/usr/bin/env bash
# torch_bench.sh - training examples/s and generation tokens/s of the C model
# (bench/sft_bench.c) against PyTorch (bench/torch_train.py, Debian's
# python3-torch for /usr/bin/python3) on the same config, batch and step,
# in one run on this machine.
#
#   bash bench/torch_bench.sh [ROUNDS] [-- extra options for both sides]
#
# For 1 and 2 threads, ROUNDS (default 3) rounds, each running the C side
# then the PyTorch side, so that both see the same machine load; prints
# every run, then the median per side and the median of the per-round
# ratios. Threads: PyTorch gets torch.set_num_threads(N) and
# OPENBLAS_NUM_THREADS=N; the C model runs train_sft's way: the batch in 2
# shards on N threads (--threads N), OpenBLAS at one thread, the same bits
# at any N. Generation: both sides on N threads (the C side's generation is
# single-threaded). Builds build/ (Release) if needed; BUILD=dir to use
# another build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../build}
rounds=${1:-3}; shift || true
[ "${1:-}" = "--" ] && shift
extra=("$@")
py=/usr/bin/python3
if ! $py -c 'import torch' 2>/dev/null; then
  echo "torch_bench: $py cannot import torch (apt-get install python3-torch)" >&2
  exit 1
fi
if [ ! -x "$build/tests/model/sft_bench" ]; then
  cmake -S "$here/.." -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target sft_bench >/dev/null
fi
bench=$build/tests/model/sft_bench
out=$(mktemp "${TMPDIR:-/tmp}/torch-bench.XXXXXX")
trap 'rm -f "$out"' EXIT

field() { sed -n "s/^RESULT.* $1=\([0-9.]*\).*/\1/p; s/^RESULT $1=\([0-9.]*\).*/\1/p" | head -1; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(uname -r)"
echo "BLAS alternative: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
for th in 1 2; do
  for r in $(seq "$rounds"); do
    c=$("$bench" --threads "$th" "${extra[@]}")
    t=$(OPENBLAS_NUM_THREADS=$th OMP_NUM_THREADS=$th OMP_WAIT_POLICY=PASSIVE $py "$here/torch_train.py" --threads "$th" "${extra[@]}")
    [ "$th" = 1 ] && [ "$r" = 1 ] && { echo "$c" | head -1; echo "$t" | sed -n '1,2p'; }
    echo "$th $r $(echo "$c" | field train_ex_per_s) $(echo "$t" | field train_ex_per_s)" \
         "$(echo "$c" | field gen_tok_per_s) $(echo "$t" | field gen_tok_per_s)" \
         "$(echo "$c" | field gflops) $(echo "$c" | field gflop_per_step)" >> "$out"
  done
done

awk '
function median(a, n,   i, j, x) {
  for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ th = $1; n[th]++; k = n[th]
  ce[th, k] = $3; te[th, k] = $4; cg[th, k] = $5; tg[th, k] = $6; gf[th, k] = $7; fps = $8
  printf "  run: threads %d round %d: C %.1f ex/s (%.1f GFLOP/s), PyTorch %.1f ex/s, ratio %.2f; generate C %.0f tok/s, PyTorch %.0f tok/s\n", th, $2, $3, $7, $4, $3 / $4, $5, $6 }
END {
  printf "\n%-8s %12s %12s %10s %10s %12s %12s %10s\n", "threads", "C ex/s", "torch ex/s", "C/torch", "C GFLOP/s", "C gen tok/s", "torch tok/s", "C/torch"
  for (th = 1; th <= 2; th++) {
    if (!n[th]) continue
    for (k = 1; k <= n[th]; k++) { a[k] = ce[th, k]; b[k] = te[th, k]; r[k] = ce[th, k] / te[th, k]
      g[k] = cg[th, k]; h[k] = tg[th, k]; q[k] = cg[th, k] / tg[th, k]; f[k] = gf[th, k] }
    printf "%-8d %12.1f %12.1f %10.2f %10.1f %12.0f %12.0f %10.2f\n", th, median(a, n[th]), median(b, n[th]), median(r, n[th]), median(f, n[th]), median(g, n[th]), median(h, n[th]), median(q, n[th])
  }
  printf "(medians over the rounds; ratios are medians of per-round ratios; %.3f GFLOP per training step, counted in sft_bench.c)\n", fps
}' "$out"
