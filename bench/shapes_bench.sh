#!/usr/bin/env bash
# shapes_bench.sh - how fast fetch_subset makes the built-in world, with 1
# and 2 threads (or THREADS...), at TRAIN training images (default 8000).
#
#   bash bench/shapes_bench.sh [TRAIN] [THREADS...]
#
# Two measurements: shapes_bench (the generator and the writers in-process,
# best of 5, checking that every thread count gives the same bytes; it also
# prints the achieved label-noise rate and the top co-occurring pairs), and
# `povid-dag run` of a one-task graph (train = TRAIN, eval = 500) in a fresh
# cache each time, which adds storing the outputs in the cache.
# Builds build/ (Release) if needed; BUILD=dir to use another build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../build}
train=${1:-8000}; shift || true
threads=("$@"); [ ${#threads[@]} -gt 0 ] || threads=(1 2)
if [ ! -x "$build/tests/tasks/shapes_bench" ] || [ ! -x "$build/povid-dag" ]; then
  cmake -S "$here/.." -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target povid-dag shapes_bench >/dev/null
fi
bin=$(realpath "$build/povid-dag")
dir=$(mktemp -d "${TMPDIR:-/tmp}/shapes-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT

"$build/tests/tasks/shapes_bench" "$train" "${threads[@]}" --dir "$dir/gen"

echo "povid-dag run (train = $train, eval = 500, fresh cache, best of 3):"
for t in "${threads[@]}"; do
  cat > "$dir/g.dag" <<DAG
task subset = fetch_subset {
  train   = $train
  eval    = 500
  threads = $t
}
DAG
  best=
  for _ in 1 2 3; do
    rm -rf "$dir/.povid"
    s=$(date +%s.%N)
    "$bin" run "$dir/g.dag" -j "$t" --progress=quiet
    e=$(date +%s.%N)
    best=$(echo "$s $e ${best:-1e9}" | awk '{d = $2 - $1; print (d < $3) ? d : $3}')
  done
  echo "$best $train $t" | awk '{printf "threads %2d: %.3fs, %.0f images/s (train + eval)\n", $3, $1, ($2 + 500) / $1}'
done
