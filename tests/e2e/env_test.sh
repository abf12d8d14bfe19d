# exec's environment: the declared env, PATH and HOME, and the names in
# inherit_env, nothing else; inherited values are not part of the key.
source "$(dirname "$0")/lib.sh"
cat > g.dag <<'DAG'
task e = exec {
  command = ["sh", "-c", "env | sort | grep -v '^PWD=\\|^SHLVL=\\|^_=' > ${out}/env.txt"]
  outputs = ["env.txt"]
  env = { ALPHA = "1", BETA = "x y" }
  inherit_env = ["PASSED"]
}
DAG
export PASSED=secret-value LEAKED=should-not-appear
pd run g.dag; expect_rc 0
pd show g.dag e --cat; expect_rc 0
expect_out "ALPHA=1"; expect_out "BETA=x y"; expect_out "PASSED=secret-value"
expect_out "PATH="; expect_out "HOME="
grep -q LEAKED "$T/out" && fail "an undeclared variable leaked into the task"
[ "$(wc -l < "$T/out")" = 5 ] || fail "unexpected variables: $(cat "$T/out")"
# The inherited value is not part of the key (it may be a secret): changing
# it does not rerun the task, and no run record holds it (the task's own
# output does, since this task prints its environment).
PASSED=other pd run g.dag; expect_counts 0 1
pd log --json; expect_rc 0
grep -q secret-value "$T/out" && fail "an inherited value is in a run record"
checks=$((checks + 2))
finish
