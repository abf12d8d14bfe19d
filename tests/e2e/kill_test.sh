# kill -9 at random moments, then rerun: the cache stays consistent, finished
# tasks are not redone, and the final artifacts are bit-identical to an
# uninterrupted run.
source "$(dirname "$0")/lib.sh"

make_graph() {
  {
    echo 'task seed = exec {'
    echo '  command = ["sh", "-c", "head -c 300000 /dev/zero | tr \"\\\\0\" x > ${out}/big.bin; echo s > ${out}/small.txt"]'
    echo '  outputs = ["big.bin", "small.txt"]'
    echo '}'
    for i in $(seq 1 12); do
      echo "task step$i = exec {"
      echo "  command = [\"sh\", \"-c\", \"sleep 0.05; mkdir -p \${out}/d/e; cat \\\"\$1\\\" > \${out}/d/e/f$i; echo $i >> \${out}/d/n.txt; cat \\\"\$2\\\" > \${out}/r.txt; echo $i >> \${out}/r.txt\", \"sh\", seed.big, $( [ "$i" = 1 ] && echo seed.small || echo "step$((i-1)).r" )]"
      echo "  outputs = { tree = \"d/\", r = \"r.txt\" }"
      echo "}"
    done
  } > "$1"
}

mkdir ref work
make_graph ref/g.dag
make_graph work/g.dag
pd run ref/g.dag -j2 --progress=plain; expect_rc 0; expect_counts 13 0

kills=0
for attempt in $(seq 1 40); do
  "$POVID_DAG" run work/g.dag -j2 --progress=quiet >/dev/null 2>&1 &
  pid=$!
  sleep "0.$((RANDOM % 25 + 1))"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  pd cache verify --cache work/.povid
  [ "$rc" = 0 ] || fail "cache damaged after kill -9 (attempt $attempt): $(cat "$T/out")"
  pd run work/g.dag --dry-run
  grep -q "^0 would run" "$T/out" && break
done
echo "killed $kills times"
pd run work/g.dag --progress=plain; expect_rc 0
pd run work/g.dag --progress=plain; expect_rc 0; expect_counts 0 13
for t in seed.big seed.small step12.r step12.tree; do
  pd show ref/g.dag "$t"; a=$(cat "$T/out")
  pd show work/g.dag "$t"; b=$(cat "$T/out")
  diff -r "$a" "$b" >/dev/null || fail "artifact $t differs after kill -9 runs"
  checks=$((checks + 1))
done
pd cache verify --cache work/.povid; expect_rc 0; expect_out "0 problems found"
finish
