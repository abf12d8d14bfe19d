# Reproducibility audits: a clean run audits clean; one flipped byte in a
# stored blob fails the audit naming the artifact and task; --reexecute
# catches a nondeterministic task and passes a deterministic graph; --task
# limits it; a changed source is reported, not compared; an exported
# bundle imports into a fresh cache and audits clean there; pinned runs
# survive gc; why prints the chain; bad inputs give clear errors.
source "$(dirname "$0")/lib.sh"

run_id() { "$POVID_DAG" log --cache .povid | tail -n 1 | cut -d' ' -f1; }

mkdir det && cd det
cat > sum.sh <<'SH'
wc -l < "$1" > "$3"; find "$2" -type f | sort | sed "s|^$2/||" >> "$3"
SH
cat > g.dag <<'DAG'
param n = 200000   # 1.3 MB: large enough for the import path that copies and ingests
task gen = exec {
  command = ["sh", "-c", "seq 1 ${n} > ${out}/big.txt"]
  outputs = ["big.txt"]
}
task tree = exec {
  command = ["sh", "-c", "mkdir -p ${out}/d/sub && seq 1 5000 > ${out}/d/sub/a.txt && echo hi > ${out}/d/b.txt"]
  outputs = ["d/"]
}
task sum = exec {
  command = ["sh", file("sum.sh"), gen.big, tree.d, "${out}/sum.txt"]
  outputs = ["sum.txt"]
}
DAG
pd run g.dag --progress=quiet; expect_rc 0; R1=$(run_id)
[ -n "$R1" ] || fail "no run id"

# A clean run audits clean, as a table, as JSON and as files.
pd audit "$R1" --cache .povid; expect_rc 0
expect_out "audit: ok"; expect_out "gen"; expect_out "ok (5 blobs)"; expect_out "seeds"
pd audit "$R1" --cache .povid --json; expect_rc 0; expect_out '"ok":	true'
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["ok"] and len(r["tasks"]) == 3' "$T/out" ||
  fail "audit --json is not the expected JSON"
pd audit "$R1" --cache .povid --out report; expect_rc 0
[ -s report/audit.json ] && grep -q '^# Audit of run' report/audit.md || fail "--out did not write the reports"
grep -q 'changed from the kind' report/audit.md || fail "audit.md lacks provenance"
pd log "$R1" --cache .povid --json; expect_rc 0; expect_out '"env"'

# Re-execution of a deterministic graph reproduces every output.
pd audit "$R1" --cache .povid --reexecute --progress=quiet; expect_rc 0
expect_out "reproduced"; expect_out "unchanged since the run"; expect_out "intact, traced, reproduced"

# why: the chain behind an artifact; an item is not available yet.
pd why g.dag sum.sum; expect_rc 0
expect_out "sum.sum = "; expect_out "made by 3 tasks: sum <- gen, tree"
expect_out "gen.big"; expect_out "(from gen)"; expect_out "sum.sh"; expect_out 'command = ["sh", "-c", "seq 1 200000'
pd why g.dag sum.sum 7; expect_rc 1; expect_err "item '7' of 'sum.sum': item-level lineage is not available for kind 'exec'"
pd why g.dag sum --json; expect_rc 0; expect_out '"artifact":	"sum.sum"'
pd why g.dag summ.sum; expect_rc 2; expect_err "no task 'summ' in 'g.dag'; did you mean 'sum'?"
pd why g.dag sum.total; expect_rc 2; expect_err "task 'sum' has no output 'total' (it has 'sum')"

# Export, then import into a fresh cache elsewhere: it audits clean there.
pd export "$R1" "$T/bundle" --cache .povid; expect_rc 0; expect_out "exported run $R1"
head -n 1 "$T/bundle/MANIFEST" | grep -qx 'povid-bundle 1' || fail "MANIFEST header"
[ -f "$T/bundle/run.json" ] || fail "bundle has no run.json"
pd import "$T/bundle" --cache "$T/other"; expect_rc 0; expect_out "imported run $R1"
pd audit "$R1" --cache "$T/other"; expect_rc 0; expect_out "audit: ok"
pd audit "$R1" --cache "$T/other" --reexecute --progress=quiet; expect_rc 0; expect_out "reproduced"
pd import "$T/bundle" --cache "$T/other"; expect_rc 0; expect_out "the run was there already"
pd export "$R1" "$T/bundle" --cache .povid; expect_rc 2; expect_err "is not empty"

# A corrupted bundle blob is refused, naming it; nothing is recorded.
cp -r "$T/bundle" "$T/bad"
big=$(grep -E '^blob [0-9a-f]{64} [0-9]{6,} file$' "$T/bad/MANIFEST" | head -n 1 | cut -d' ' -f2)
[ -n "$big" ] || fail "no large blob in the bundle"
printf 'X' | dd of="$T/bad/blobs/$big" bs=1 seek=10 conv=notrunc 2>/dev/null
pd import "$T/bad" --cache "$T/third"; expect_rc 1; expect_err "blob 'blobs/$big' is corrupted"
pd log --cache "$T/third"; expect_rc 0; [ ! -s "$T/out" ] || fail "a refused import recorded a run"
pd import "$T/missing" --cache "$T/third"; expect_rc 1; expect_err "cannot read bundle '$T/missing'"
sed -i 's/^action /acton /' "$T/bad/MANIFEST"
pd import "$T/bad" --cache "$T/third"; expect_rc 1; expect_err "MANIFEST:3: unknown entry 'acton'"

# One flipped byte in a large stored output: the audit fails, naming it.
gen_digest=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print([t for t in r["tasks"] if t["name"]=="gen"][0]["outputs"]["big"]["digest"])' report/audit.json)
f=".povid/cas/${gen_digest:0:2}/$gen_digest"
[ -f "$f" ] || fail "no cas file $f"
cp -p "$f" "$T/saved"
chmod u+w "$f"; printf 'X' | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null; chmod 0444 "$f"
pd audit "$R1" --cache .povid; expect_rc 1
expect_out "gen: integrity: output 'big' (blob ${gen_digest:0:12}): damaged"; expect_out "audit: FAILED"
pd audit "$R1" --cache .povid; expect_rc 1; expect_out "damaged"   # the audit repaired nothing
pd export "$R1" "$T/bundle2" --cache .povid; expect_rc 1; expect_err "output 'big' of task 'gen'"
[ ! -e "$T/bundle2" ] || fail "a failed export left a half bundle"
chmod u+w "$f"; cp "$T/saved" "$f"; chmod 0444 "$f"
pd audit "$R1" --cache .povid; expect_rc 0

# --task limits the audit; unknown runs and tasks are named.
pd audit "$R1" --cache .povid --task tree; expect_rc 0; expect_out "tree"
! grep -qE '^gen ' "$T/out" || fail "--task tree still audited gen"
pd audit "$R1" --cache .povid --task tre; expect_rc 2; expect_err "no task 'tre' in run '$R1'; did you mean 'tree'?"
pd audit 20990101-000000000-abcdef --cache .povid; expect_rc 1; expect_err "no run '20990101-000000000-abcdef'"
pd audit --cache .povid; expect_rc 2; expect_err "audit needs one RUN"
pd pin nope --cache .povid; expect_rc 1; expect_err "no run 'nope'"
pd export nope "$T/b3" --cache .povid; expect_rc 1; expect_err "no run 'nope'"
pd why missing.dag sum.sum; expect_rc 2; expect_err "missing.dag"

# A source edited since the run: re-execution says so instead of comparing.
echo 'echo edited >> "$3"' >> sum.sh
pd audit "$R1" --cache .povid --reexecute --progress=quiet; expect_rc 1
expect_out "sum: reexecute: cannot re-execute: source 'sum.sh' changed since the run"
expect_out "reproduced"    # gen and tree are unaffected
pd audit "$R1" --cache .povid --reexecute --task gen --progress=quiet; expect_rc 0

# Pins: a pinned old run's artifacts survive gc --keep 1.
pd run g.dag --set n=300000 --progress=quiet; expect_rc 0; R2=$(run_id)
pd run g.dag --set n=400000 --progress=quiet; expect_rc 0
# (a run with --set overrides re-executes with them)
pd audit "$R2" --cache .povid --reexecute --task gen --progress=quiet; expect_rc 0; expect_out "n = 300000"
pd pin "$R1" --cache .povid; expect_rc 0; expect_out "pinned run $R1"
pd cache gc --keep 1 --cache .povid; expect_rc 0
pd audit "$R1" --cache .povid; expect_rc 0; expect_out "audit: ok"
pd audit "$R2" --cache .povid; expect_rc 1; expect_err "no run '$R2'"
pd pin "$R1" --unpin --cache .povid; expect_rc 0; expect_out "unpinned run $R1"
pd cache gc --keep 1 --cache .povid; expect_rc 0
pd audit "$R1" --cache .povid; expect_rc 1; expect_err "no run '$R1'"
cd ..

# A nondeterministic task is caught by --reexecute; its dependents are not
# compared (their input differs); --task limits the check.
mkdir nondet && cd nondet
cat > g.dag <<'DAG'
task clock = exec {
  command = ["sh", "-c", "date +%s%N > ${out}/t.txt"]
  outputs = ["t.txt"]
}
task after = exec {
  command = ["sh", "-c", "cat \"$1\" > \"$2\"/a.txt", "sh", clock.t, "${out}"]
  outputs = ["a.txt"]
}
task stable = exec {
  command = ["sh", "-c", "echo stable > ${out}/s.txt"]
  outputs = ["s.txt"]
}
DAG
pd run g.dag --progress=quiet; expect_rc 0; R3=$(run_id)
pd audit "$R3"; expect_rc 0
pd audit "$R3" --reexecute --progress=quiet; expect_rc 1
expect_out "clock: reexecute: output 't' differs"
expect_out "after: reexecute: not compared: input 'clock.t' changed in the re-execution (task 'clock' did not reproduce"
pd audit "$R3" --reexecute --task stable --progress=quiet; expect_rc 0; expect_out "reproduced"
pd audit "$R3" --reexecute --json --progress=quiet; expect_rc 1
expect_out '"status":	"differs"'
finish
