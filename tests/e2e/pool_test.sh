# Pools: a named pool of size 1 serialises its tasks whatever -j says; a task
# with threads = 2 holds two cpu slots; the gpu pool needs --gpus.
source "$(dirname "$0")/lib.sh"

# max_overlap FILE: the largest number of tasks running at once, from +/- lines.
max_overlap() { awk '$1 == "+" { n++; if (n > m) m = n } $1 == "-" { n-- } END { print m + 0 }' "$1"; }

gen() { # gen POOL THREADS
  echo "pool api = 1"
  for i in 1 2 3 4; do
    echo "task p$i = exec {"
    echo "  command = [\"sh\", \"-c\", \"echo + >> $T/ev; sleep 0.3; echo - >> $T/ev; echo $i \$1 > \${out}/o\", \"sh\", \"$1$2\"]"
    echo "  outputs = [\"o\"]"
    echo "  pool = \"$1\""
    echo "  threads = $2"
    echo "}"
  done
}
gen api 1 > api.dag
pd run api.dag -j4 --progress=plain; expect_rc 0; expect_counts 4 0
[ "$(max_overlap ev)" = 1 ] || fail "pool api = 1 ran $(max_overlap ev) tasks at once"
rm ev; gen cpu 1 > cpu.dag
pd run cpu.dag -j4 --progress=plain; expect_rc 0
[ "$(max_overlap ev)" -ge 2 ] || fail "-j4 never ran tasks in parallel"
rm ev; gen cpu 2 > cpu2.dag
pd run cpu2.dag -j4 --progress=plain; expect_rc 0
[ "$(max_overlap ev)" -le 2 ] || fail "threads = 2 on -j4 ran $(max_overlap ev) at once"
rm ev; gen cpu 3 > cpu3.dag
pd run cpu3.dag -j2 --progress=plain; expect_rc 0  # more threads than -j: runs alone
[ "$(max_overlap ev)" = 1 ] || fail "threads = 3 on -j2 overlapped"
checks=$((checks + 4))

gen gpu 1 > gpu.dag
pd run gpu.dag --gpus 0; expect_rc 2; expect_err "needs the gpu pool, but --gpus is 0"
pd run gpu.dag --gpus 1 --progress=plain; expect_rc 0
finish
