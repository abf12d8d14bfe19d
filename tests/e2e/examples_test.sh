# The examples/ graphs keep working: each runs, reruns as a no-op, and
# reacts to a param change.
source "$(dirname "$0")/lib.sh"
cp -r "$PD_SRC/examples/external-trainer" ex
pd run ex/train.dag --progress=plain; expect_rc 0; expect_counts 4 0
pd show ex/train.dag evaluate --cat; expect_rc 0; expect_out "mse"
grep -qE 'w 2\.9[0-9]{2}|w 3\.0[0-9]{2}' "$T/out" || fail "the trainer did not learn w ~ 3: $(cat "$T/out")"
pd run ex/train.dag; expect_counts 0 4
pd run ex/train.dag --set lr=0.05 --progress=plain; expect_rc 0; expect_counts 2 2
expect_ran train evaluate; expect_not_ran data heldout
finish
