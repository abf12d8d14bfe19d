# The no-op fast path (snapshot.c) must only ever confirm true no-ops: any
# change to the graph, a source, an override, the targets, an output blob,
# or an upstream output recorded under an unchanged key sends the run down
# the full path.
source "$(dirname "$0")/lib.sh"

# last_run_used_snapshot: 0 if the newest run record says so.
last_run_used_snapshot() {
  local id
  id=$("$POVID_DAG" log --cache .povid | tail -n 1 | awk '{print $1}')
  "$POVID_DAG" log "$id" --json --cache .povid | grep -q '"snapshot":true'
}
expect_fast() { last_run_used_snapshot || fail "expected the snapshot fast path"; checks=$((checks + 1)); }
expect_full() { ! last_run_used_snapshot || fail "expected the full path"; checks=$((checks + 1)); }

echo 'echo from-script' > script.sh
mkdir -p data; echo d1 > data/a.txt
cat > g.dag <<'DAG'
param n = 2
task gen = exec {   # nondeterministic on purpose: a large random output
  command = ["sh", "-c", "head -c 50000 /dev/urandom > ${out}/r.bin"]
  outputs = ["r.bin"]
}
task use = exec {
  command = ["sh", "-c", "cksum < \"$1\" > \"$2\"/c.txt; sh \"$3\" >> \"$2\"/c.txt; ls \"$4\" >> \"$2\"/c.txt; echo ${n} >> \"$2\"/c.txt",
             "sh", gen.r, "${out}", file("script.sh"), dir("data")]
  outputs = ["c.txt"]
}
DAG
pd run g.dag; expect_rc 0; expect_counts 2 0; expect_full
pd run g.dag; expect_rc 0; expect_counts 0 2; expect_fast
pd run g.dag; expect_rc 0; expect_counts 0 2; expect_fast

# Sources: a file() input, a file inside a dir() input, the graph itself.
echo 'echo edited' > script.sh
pd run g.dag --progress=plain; expect_rc 0; expect_counts 1 1; expect_full; expect_ran use
pd run g.dag; expect_fast
echo d2 > data/b.txt
pd run g.dag --progress=plain; expect_rc 0; expect_counts 1 1; expect_full
pd run g.dag; expect_fast
echo '# a comment changes the graph digest, not the keys' >> g.dag
pd run g.dag; expect_rc 0; expect_counts 0 2; expect_full
pd run g.dag; expect_fast

# Overrides and targets have snapshots of their own.
pd run g.dag --set n=3; expect_rc 0; expect_counts 1 1; expect_full
pd run g.dag --set n=3; expect_counts 0 2; expect_fast
pd run g.dag; expect_counts 0 2; expect_fast     # n=2's snapshot is still valid
pd run g.dag gen; expect_counts 0 1; expect_full
pd run g.dag gen; expect_counts 0 1; expect_fast

# A damaged output blob: the key is no longer a hit.
blob=$(find .povid/cas -type f | head -n 1)
chmod u+w "$blob"; printf 'XX' | dd of="$blob" bs=1 seek=100 conv=notrunc 2>/dev/null
pd run g.dag --progress=plain; expect_rc 0; expect_full; expect_ran gen
# gen's output is random, so use reran too (early cutoff could not apply).
expect_ran use
pd run g.dag; expect_fast

# An upstream output replaced under an unchanged key: rerun gen alone after
# damaging its blob (the gen-only target has its own snapshot), then the
# whole graph: gen's key still hits, but with new outputs, so use's input
# digest changed and use must rerun. The snapshot must not hide that.
blob=$(find .povid/cas -type f -size +40k | head -n 1)
chmod u+w "$blob"; printf 'YY' | dd of="$blob" bs=1 seek=7 conv=notrunc 2>/dev/null
pd run g.dag gen --progress=plain; expect_rc 0; expect_ran gen
pd run g.dag --progress=plain; expect_rc 0; expect_full; expect_counts 1 1; expect_ran use

# Turning the fast path off gives the same outcome.
POVID_NO_SNAPSHOT=1 pd run g.dag; expect_counts 0 2; expect_full
finish
