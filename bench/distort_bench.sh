#!/usr/bin/env bash
# distort_bench.sh - the forward diffusion noise of distort_images: images
# per second against NumPy, and bytes moved per second against this
# machine's memory bandwidth measured by a copy, all in one run.
#
#   bash bench/distort_bench.sh [N] [THREADS...]
#
# N images of 32x32x3 (default 20000), one draw, k = 500. Threads default to
# 1 and the machine's cores. Three measurements:
#   - NumPy (bench/distort_numpy.py, one thread: default generator and
#     Philox), Debian's python3-numpy, installed here when missing;
#   - distort_bench (bench/distort_bench.c): the C kernel on each thread
#     count, and a parallel memcpy of the kernel's output size on as many
#     threads (read + write counted, like the kernel's u8 in + f32 out);
#   - the C kernel capped at each instruction set (PD_DISTORT_ISA), 1 thread.
# Targets (issue 5): at least 3x NumPy, within 2x of the copy bandwidth.
# Builds build/ (Release) if needed; BUILD=dir to use another build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../build}
n=${1:-20000}; shift || true
threads=("$@"); [ ${#threads[@]} -gt 0 ] || threads=(1 "$(nproc)")
py=/usr/bin/python3

if ! "$py" -c 'import numpy' 2>/dev/null; then
  echo "distort_bench: installing python3-numpy (Debian) for the NumPy baseline" >&2
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y python3-numpy >/dev/null 2>&1 ||
    { $sudo apt-get update >/dev/null && $sudo apt-get install -y python3-numpy >/dev/null; }
fi
if [ ! -x "$build/tests/kernels/distort_bench" ]; then
  cmake -S "$here/.." -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target distort_bench >/dev/null
fi

echo "== $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
np=$("$py" "$here/distort_numpy.py" "$n")
echo "$np"
c=$("$build/tests/kernels/distort_bench" "$n" "${threads[@]}")
echo "$c"
isa=$(for i in base avx2 avx512; do PD_DISTORT_ISA=$i "$build/tests/kernels/distort_bench" "$n" 1 --repeats 3 | grep '^distort'; done)
echo "$isa"

echo "== summary"
num() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | head -n 1; }
np_ips=$(grep 'rng=pcg64' <<<"$np" | num images_per_s)
for t in "${threads[@]}"; do
  ips=$(grep "^distort threads=$t " <<<"$c" | num images_per_s)
  gbs=$(grep "^distort threads=$t " <<<"$c" | num gb_per_s)
  cgbs=$(grep "^copy threads=$t " <<<"$c" | num gb_per_s)
  awk -v t="$t" -v ips="$ips" -v np="$np_ips" -v gbs="$gbs" -v cgbs="$cgbs" 'BEGIN {
    printf "threads %d: %.0f images/s = %.1fx NumPy (%.0f, 1 thread) [target 3x: %s]; %.2f GB/s = %.2f of copy %.2f GB/s [target 0.5: %s]\n",
      t, ips, ips / np, np, (ips / np >= 3 ? "met" : "missed"), gbs, gbs / cgbs, cgbs,
      (gbs / cgbs >= 0.5 ? "met" : "missed") }'
done
while read -r line; do
  i=$(sed -n 's/.*isa=\([a-z0-9]*\).*/\1/p' <<<"$line")
  ips=$(num images_per_s <<<"$line")
  awk -v i="$i" -v ips="$ips" -v np="$np_ips" 'BEGIN { printf "kernel %-6s 1 thread: %.0f images/s = %.1fx NumPy\n", i, ips, ips / np }'
done <<<"$isa"
