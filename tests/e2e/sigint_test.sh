# SIGINT stops running children, keeps finished work, exits 130.
source "$(dirname "$0")/lib.sh"
cat > g.dag <<DAG
task quick = exec {
  command = ["sh", "-c", "echo q > \${out}/q.txt"]
  outputs = ["q.txt"]
}
task slow = exec {
  command = ["sh", "-c", "sleep 31.7; echo s > \${out}/s.txt", quick.q]
  outputs = ["s.txt"]
}
DAG
"$POVID_DAG" run g.dag --progress=plain >o 2>e & pid=$!
for i in $(seq 1 100); do grep -q "run slow" e 2>/dev/null && break; sleep 0.05; done
kill -INT $pid
set +e; wait $pid; code=$?; set -e
[ "$code" = 130 ] || fail "expected exit 130 after SIGINT, got $code: $(cat e)"
grep -q "interrupted" e || fail "no interruption message"
! pgrep -f "sleep 31.7" >/dev/null || fail "the child survived"
pd status g.dag; expect_out "cached   quick"; expect_out "stale    slow"
pd log; expect_out "interrupted"
finish
