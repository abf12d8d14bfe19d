# A failing task stops its dependents and is never cached; --keep-going runs
# everything else; a task that exits 0 without its declared outputs fails;
# retries; a timeout; exit codes.
source "$(dirname "$0")/lib.sh"

cat > g.dag <<'DAG'
param fail = true
task bad = exec {
  command = ["sh", "-c", "echo about to fail; if ${fail}; then exit 3; fi; echo ok > ${out}/b.txt"]
  outputs = ["b.txt"]
}
task after_bad = exec {
  command = ["cat", bad.b]
  outputs = []
}
task good = exec {
  command = ["sh", "-c", "echo good > ${out}/g.txt"]
  outputs = ["g.txt"]
}
DAG
pd run g.dag -j1 --progress=plain; expect_rc 1
expect_err "error: task 'bad' (attempt 1 of 1): exited with status 3"
expect_err "about to fail"
pd log; expect_out "failed"
pd run g.dag -k --progress=plain; expect_rc 1; expect_ran good
pd status g.dag; expect_out "stale    bad"; expect_out "blocked  after_bad"; expect_out "cached   good"
pd run g.dag --set fail=false --progress=plain; expect_rc 0; expect_counts 2 1

# Exit 0 without the declared output: fails, not cached.
cat > lies.dag <<'DAG'
task liar = exec {
  command = ["true"]
  outputs = ["promised.txt"]
}
DAG
pd run lies.dag --progress=plain; expect_rc 1
expect_err "exited 0 but did not write declared output 'promised'"
pd run lies.dag --progress=plain; expect_rc 1; expect_counts 0 0

# Retries: fails twice, then succeeds on the third attempt.
cat > flaky.dag <<DAG
task flaky = exec {
  command = ["sh", "-c", "n=\$(cat $T/tries 2>/dev/null || echo 0); echo \$((n+1)) > $T/tries; [ \$n -ge 2 ] && echo ok > \${out}/f.txt"]
  outputs = ["f.txt"]
  retries = 2
}
DAG
pd run flaky.dag --progress=plain; expect_rc 0; expect_err "attempt 2 of 3"
[ "$(cat "$T/tries")" = 3 ] || fail "expected 3 attempts"

# Timeout.
cat > slow.dag <<'DAG'
task slow = exec {
  command = ["sleep", "30"]
  timeout = 0.3
}
DAG
pd run slow.dag --progress=plain; expect_rc 1; expect_err "timed out after 0.3s"

# Missing program.
cat > noprog.dag <<'DAG'
task x = exec { command = ["no-such-program-xyz"] }
DAG
pd run noprog.dag --progress=plain; expect_rc 1; expect_err "cannot run 'no-such-program-xyz'"

# Unknown target and bad usage: exit 2.
pd run g.dag goood; expect_rc 2; expect_err "no task 'goood'"; expect_err "did you mean 'good'?"
pd run g.dag -j0; expect_rc 2
pd frobnicate; expect_rc 2; expect_err "unknown command"
pd run; expect_rc 2
finish
