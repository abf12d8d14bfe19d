# The inspection commands: tasks, graph, show, log, cache stats/verify/gc,
# --help and --version; damage found by verify and healed by a rerun.
source "$(dirname "$0")/lib.sh"
pd --version; expect_rc 0; expect_out "povid-dag "
pd --help; expect_rc 0; expect_out "usage: povid-dag COMMAND"
for c in run status explain graph tasks show log cache; do
  pd $c --help; expect_rc 0; expect_out "usage: povid-dag $c"
done
pd tasks; expect_rc 0; expect_out "exec"
pd tasks exec; expect_rc 0; expect_out "command"; expect_out "inherit_env"; expect_out "threads"
pd tasks exce; expect_rc 2; expect_err "did you mean 'exec'?"

mkdir -p src/sub; echo a > src/a.txt; echo b > src/sub/b.txt
cat > g.dag <<'DAG'
task tree = exec {
  command = ["sh", "-c", "cp -r \"$1\" ${out}/copy; echo big > ${out}/x.txt", "sh", dir("src")]
  outputs = { copy = "copy/", x = "x.txt" }
}
task big = exec {
  command = ["sh", "-c", "head -c 100000 /dev/zero > ${out}/z.bin; cat \"$1\"/a.txt > ${out}/a.txt", "sh", tree.copy]
  outputs = ["z.bin", "a.txt"]
}
DAG
pd graph g.dag; expect_rc 0; expect_out '"tree" -> "big"'
pd graph g.dag --format json; expect_rc 0; expect_out '"deps"'
pd graph g.dag --format svg; expect_rc 2
pd run g.dag --progress=plain; expect_rc 0; expect_counts 2 0
pd show g.dag tree; expect_rc 0; expect_out "copy"; expect_out "x"
pd show g.dag tree.copy; expect_rc 0; d=$(cat "$T/out"); [ -f "$d/sub/b.txt" ] || fail "tree not materialized at $d"
pd show g.dag big.z; expect_rc 0; z=$(cat "$T/out"); [ "$(stat -c %s "$z")" = 100000 ] || fail "bad size"
[ ! -w "$z" ] || [ "$(id -u)" = 0 ] || fail "artifact is writable"
pd show g.dag big.nope; expect_rc 2
pd log; expect_rc 0; run=$(awk 'NR==1{print $1}' "$T/out")
pd log "$run"; expect_rc 0; expect_out "executed"
pd log "$run" --json; expect_rc 0; expect_out '"graph_digest"'
pd cache stats; expect_rc 0; expect_out "actions      2"
pd cache verify; expect_rc 0; expect_out "0 problems found"

# Damage a large blob behind the cache's back: verify reports it, the next
# run notices (stat fingerprint changed), re-executes and heals it.
blob=$(find .povid/cas -type f | head -n 1)
chmod u+w "$blob"; printf 'X' | dd of="$blob" bs=1 seek=10 conv=notrunc 2>/dev/null
pd cache verify; expect_rc 1; expect_out "damaged"
pd run g.dag --progress=plain; expect_rc 0; expect_counts 1 1
pd cache verify; expect_rc 0

# Editing a file inside a dir() input reruns its consumers.
echo c > src/sub/c.txt
pd run g.dag --progress=plain; expect_rc 0; expect_ran tree

pd cache gc --keep 1; expect_rc 0; expect_out "gc:"
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 2
finish
