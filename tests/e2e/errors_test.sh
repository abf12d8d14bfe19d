# Bad graphs through the CLI: exit code 2, "file:line:col: error:", the
# source line and a caret; nothing runs and nothing already cached is lost.
# (Each diagnostic is unit-tested in tests/orchestrator/graph_test.c.)
source "$(dirname "$0")/lib.sh"

# expect_diag FILE LINE:COL MESSAGE: the whole three-line diagnostic shape.
expect_diag() {
  expect_rc 2
  grep -qF -- "$1:$2: error: $3" "$T/err" || fail "no '$1:$2: error: $3'"
  [ "$(grep -A2 -F -- "$1:$2: error:" "$T/err" | tail -n 1 | tr -d ' ')" = "^" ] || fail "no caret line"
  checks=$((checks + 1))
}

cat > good.dag <<'DAG'
task a = exec {
  command = ["sh", "-c", "echo a > ${out}/a.txt"]
  outputs = ["a.txt"]
}
DAG
pd run good.dag; expect_rc 0; expect_counts 1 0

printf 'task a = exec {\n  command = ["true"\n}\n' > syntax.dag
pd run syntax.dag; expect_diag syntax.dag 3:1 "expected"
printf 'task a = exce { command = ["true"] }\n' > kind.dag
pd run kind.dag; expect_diag kind.dag 1:10 "unknown task kind 'exce'; did you mean 'exec'?"
printf 'task a = exec { comand = ["true"] }\n' > param.dag
pd run param.dag; expect_diag param.dag 1:17 "unknown parameter 'comand'"; expect_err "did you mean 'command'?"
printf 'task a = exec { outputs = [] }\n' > missing.dag
pd run missing.dag; expect_diag missing.dag 1:6 "task 'a' (exec) is missing required parameter 'command'"
printf 'task a = exec { command = ["x"], shell = "yes" }\n' > type.dag
pd run type.dag; expect_diag type.dag 1:42 "parameter 'shell'"
printf 'task a = exec { command = ["echo"], retries = 500 }\n' > range.dag
pd run range.dag; expect_diag range.dag 1:47 "parameter 'retries' must be in [0, 100], got 500"
printf 'task a = exec { command = ["x", b.out] }\ntask bb = exec { command = ["x"], outputs = ["out"] }\n' > ref.dag
pd run ref.dag; expect_diag ref.dag 1:33 "unknown task 'b'; did you mean"
printf 'task a = exec { command = ["x"], outputs = ["out.txt"] }\ntask b = exec { command = ["x", a.outt] }\n' > out.dag
pd run out.dag; expect_diag out.dag 2:33 "task 'a' (exec) has no output 'outt'; did you mean 'out'?"
printf 'task a = exec { command = ["x"] }\ntask a = exec { command = ["y"] }\n' > dup.dag
pd run dup.dag; expect_diag dup.dag 2:6 "task 'a' is already defined at dup.dag:1:6"
printf 'task a = exec { command = ["x", b.out], outputs = ["out"] }\ntask b = exec { command = ["x", a.out], outputs = ["out"] }\n' > cycle.dag
pd run cycle.dag; expect_diag cycle.dag 1:6 "dependency cycle: a -> b -> a"
printf 'include "nope.dag"\n' > inc.dag
pd run inc.dag; expect_diag inc.dag 1:9 "cannot open include 'nope.dag'"
printf 'include "cyc2.dag"\n' > cyc1.dag; printf 'include "cyc1.dag"\n' > cyc2.dag
pd run cyc1.dag; expect_rc 2; expect_err "include cycle: cyc1.dag -> cyc2.dag -> cyc1.dag"
printf 'param n = 3\ntask a = exec { command = ["echo", "${n}"] }\n' > set.dag
pd run set.dag --set n=abc; expect_rc 2; expect_err "--set n=abc: 'n' is an integer (declared at set.dag:1:7), got 'abc'"
pd run set.dag --set m=1; expect_rc 2; expect_err "--set m=1: unknown param 'm'; did you mean 'n'?"
pd run set.dag --set n; expect_rc 2; expect_err "expected NAME=VALUE"
pd status kind.dag; expect_rc 2
pd explain cycle.dag a; expect_rc 2
pd run nowhere.dag; expect_rc 2; expect_err "cannot open 'nowhere.dag'"

# Nothing already done was lost.
pd run good.dag; expect_rc 0; expect_counts 0 1
finish
