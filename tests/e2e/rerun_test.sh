# A second run executes nothing; a param change reruns exactly that task and
# its dependents; an upstream rerun with identical output reruns nothing
# downstream (early cutoff); editing a file() input reruns its consumers.
source "$(dirname "$0")/lib.sh"

cat > script.sh <<'SH'
cat "$1" > "$2"; echo scripted >> "$2"
SH
cat > g.dag <<'DAG'
param n = 3
param comment = "first"
task gen = exec {
  command = ["sh", "-c", "seq 1 ${n} > ${out}/data.txt"]
  outputs = ["data.txt"]
}
task tagged = exec {   # output does not depend on comment
  command = ["sh", "-c", "echo same > ${out}/t.txt # ${comment}"]
  outputs = ["t.txt"]
}
task count = exec {
  command = ["sh", "-c", "wc -l < \"$1\" > \"$2\"/count.txt; cat \"$3\" >> \"$2\"/count.txt",
             "sh", gen.data, "${out}", tagged.t]
  outputs = ["count.txt"]
}
task report = exec {
  command = ["sh", file("script.sh"), count.count, "${out}/r.txt"]
  outputs = { result = "r.txt" }
}
task alone = exec {
  command = ["sh", "-c", "echo alone > ${out}/a.txt"]
  outputs = ["a.txt"]
}
DAG

pd run g.dag --progress=plain; expect_rc 0; expect_counts 5 0
pd show g.dag report --cat; expect_rc 0
[ "$(cat "$T/out")" = "$(printf '3\nsame\nscripted')" ] || fail "report content: $(cat "$T/out")"

pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 5
pd status g.dag; expect_rc 0; expect_out "cached   report"

# One param: gen and its dependents rerun; tagged and alone do not.
pd run g.dag --dry-run --set n=4; expect_rc 0
expect_out "would run: gen (param 'command[2]' changed"
expect_out "then:      count (after 'gen' reruns)"
pd explain g.dag gen --set n=4; expect_rc 0; expect_out 'param '"'"'command[2]'"'"' changed: "seq 1 3 > ${out}/data.txt" -> "seq 1 4'
pd run g.dag --set n=4 --progress=plain; expect_rc 0; expect_counts 3 2
expect_ran gen count report; expect_not_ran tagged alone
pd show g.dag report.result --cat --set n=4; [ "$(head -n1 "$T/out")" = "4" ] || fail "n=4 not seen"
# Only gen with n=6: count is then stale because its input changed.
pd run g.dag gen --set n=6 --progress=plain; expect_rc 0; expect_counts 1 0
pd explain g.dag count --set n=6; expect_rc 0; expect_out "count would rerun"
expect_out "input 'gen.data' changed"; expect_out "(output of task 'gen')"
pd explain g.dag count --set n=6 --json; expect_rc 0; expect_out '"what":	"input"'

# Early cutoff: tagged reruns, produces the same bytes, count is not rerun.
pd run g.dag --set n=4 --set comment=second --progress=plain; expect_rc 0; expect_counts 1 4
expect_ran tagged; expect_not_ran count report

# Editing a file() input reruns its consumers only.
echo 'echo edited >> "$2"' >> script.sh
pd status g.dag --set n=4 --set comment=second; expect_out "stale    report (source 'script.sh' changed"
pd run g.dag --set n=4 --set comment=second --progress=plain; expect_rc 0; expect_counts 1 4
expect_ran report

# Targets: only the closure of the named task.
pd run g.dag alone --set n=5 --progress=plain; expect_rc 0; expect_counts 0 1
pd run g.dag count --set n=5 --progress=plain; expect_rc 0; expect_counts 2 1
expect_ran gen count; expect_not_ran report

# Back to the first params: everything is still cached (nothing was overwritten).
pd run g.dag --progress=plain; expect_rc 0; expect_counts 1 4
expect_ran report   # the script changed since that run
pd log; expect_rc 0; expect_out "executed"
pd status g.dag --json; expect_rc 0; expect_out '"state":	"cached"'
finish
