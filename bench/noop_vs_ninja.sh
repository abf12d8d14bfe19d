#!/usr/bin/env bash
# noop_vs_ninja.sh - times povid-dag's no-op rerun of a 10,000-task graph
# against ninja's no-op build of the same graph, side by side in one run.
#
#   bash bench/noop_vs_ninja.sh [LAYERS] [WIDTH] [REPEATS]
#
# Both first build everything (not timed: that is 10,000 process spawns),
# then each no-op is repeated REPEATS times, alternating the tools; the
# medians and their ratios are printed. povid-dag is timed twice: as users
# get it (a no-op confirmed by its snapshot, see orchestrator/snapshot.c)
# and with POVID_NO_SNAPSHOT=1 (graph parsed, every key recomputed and
# looked up), which is also the cost of any run where something changed.
# Needs ninja-build and python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${POVID_DAG:-$here/../build/povid-dag}")
layers=${1:-100}; width=${2:-100}; repeats=${3:-15}
dir=$(mktemp -d "${TMPDIR:-/tmp}/povid-noop.XXXXXX")
trap 'rm -rf "$dir"' EXIT
python3 "$here/gen_graph.py" "$dir" "$layers" "$width"
cd "$dir"
echo "graph: $((layers * width)) tasks in $dir" >&2
echo "first build with ninja..." >&2
ninja -j "$(nproc)" >/dev/null
echo "first run with povid-dag..." >&2
"$bin" run wide.dag --progress=quiet
ninja | grep -q "no work to do" || { echo "ninja is not a no-op" >&2; exit 1; }
python3 - "$bin" "$repeats" <<'PY'
import statistics, subprocess, sys, time
bin, repeats = sys.argv[1], int(sys.argv[2])
import os
full_env = dict(os.environ, POVID_NO_SNAPSHOT="1")
cmds = {"povid-dag": ([bin, "run", "wide.dag", "--progress=quiet"], None),
        "povid-dag (full evaluation)": ([bin, "run", "wide.dag", "--progress=quiet"], full_env),
        "ninja": (["ninja"], None)}
times = {k: [] for k in cmds}
for _ in range(repeats):
    for name, (cmd, env) in cmds.items():
        t = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        times[name].append(time.perf_counter() - t)
        if r.returncode != 0:
            sys.exit(f"{name} failed: {r.stderr}")
        if name.startswith("povid-dag") and " 0 executed" not in r.stderr and r.stderr:
            sys.exit(f"povid-dag rerun was not a no-op: {r.stderr}")
med = {k: statistics.median(v) for k, v in times.items()}
for k in cmds:
    print(f"{k:28s} no-op median {med[k]*1000:7.1f} ms  (min {min(times[k])*1000:.1f}, max {max(times[k])*1000:.1f}, n={repeats})")
for k in cmds:
    if k != "ninja":
        print(f"ratio {k} / ninja: {med[k] / med['ninja']:.2f}")
PY
