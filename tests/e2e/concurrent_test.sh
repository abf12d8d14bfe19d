# Two povid-dag runs on the same cache at once: each action runs once, both
# succeed, nothing is corrupted.
source "$(dirname "$0")/lib.sh"
{
  for i in $(seq 1 6); do
    echo "task t$i = exec {"
    echo "  command = [\"sh\", \"-c\", \"echo t$i >> $T/ran; sleep 0.3; echo $i > \${out}/o.txt\"]"
    echo "  outputs = [\"o.txt\"]"
    echo "}"
  done
  echo 'task all = exec {'
  echo '  command = ["sh", "-c", "cat \"$@\" > ${out}/all.txt", "sh", t1.o, t2.o, t3.o, t4.o, t5.o, t6.o]'
  echo '  outputs = ["all.txt"]'
  echo '}'
} > g.dag
"$POVID_DAG" run g.dag -j3 --progress=plain >a.out 2>a.err & p1=$!
"$POVID_DAG" run g.dag -j3 --progress=plain >b.out 2>b.err & p2=$!
wait $p1 || fail "first run failed: $(cat a.err)"
wait $p2 || fail "second run failed: $(cat b.err)"
n=$(wc -l < ran)
[ "$n" = 6 ] || fail "expected each of 6 actions to run once, ran $n times: $(sort ran | uniq -c)"
checks=$((checks + 1))
pd show g.dag all --cat; expect_rc 0
[ "$(tr -d '\n' < "$T/out")" = 123456 ] || fail "bad combined output"
pd cache verify; expect_rc 0
pd run g.dag --progress=plain; expect_counts 0 7
finish
