# graphs/full.dag (what `make run` runs) works at toy size: every stage runs,
# the report is written, a rerun is a no-op, an audit re-executes the first
# run bit for bit, a seed change reruns the data.
source "$(dirname "$0")/lib.sh"
cp -r "$PD_SRC/graphs" g
rm -rf g/.povid
pd run g/full.dag --set train=120 --set eval=30 --progress=plain; expect_rc 0; expect_counts 4 0
expect_ran subset corrupted noisy report
pd show g/full.dag report --set train=120 --set eval=30; expect_rc 0; r=$(cat "$T/out")
[ -f "$r/report.md" ] && [ -f "$r/preview.png" ] && [ -f "$r/noise.png" ] || fail "report incomplete in $r"
grep -q "preference pairs: 120" "$r/report.md" || fail "report: $(head -5 "$r/report.md")"
pd run g/full.dag --set train=120 --set eval=30; expect_rc 0; expect_counts 0 4
# The pipeline's first stages reproduce bit for bit.
run=$("$POVID_DAG" log --cache g/.povid | head -n 1 | awk '{print $1}')
pd audit "$run" --reexecute --cache g/.povid; expect_rc 0; expect_out "audit: ok"
expect_out "reproduced"
pd run g/full.dag --set train=120 --set eval=30 --set seed=2 --progress=plain; expect_rc 0; expect_counts 4 0
pd graph g/full.dag; expect_rc 0; expect_out '"subset" -> "corrupted"'
checks=$((checks + 2))
finish
