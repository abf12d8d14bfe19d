# lib.sh - helpers for the end-to-end tests: each test is a bash script that
# runs the built povid-dag ($POVID_DAG) in a fresh temporary directory.
set -euo pipefail

: "${POVID_DAG:?POVID_DAG must name the povid-dag binary}"
: "${PD_TEST_TMP:=/tmp}"
mkdir -p "$PD_TEST_TMP"
T=$(mktemp -d "$PD_TEST_TMP/$(basename "$0" .sh).XXXXXX")
cd "$T"
unset POVID_CACHE POVID_TRACE
checks=0

fail() {
  echo "FAIL: $*" >&2
  echo "--- last stdout ---" >&2; cat "$T/out" >&2 2>/dev/null || true
  echo "--- last stderr ---" >&2; cat "$T/err" >&2 2>/dev/null || true
  exit 1
}

# pd ARGS...: runs povid-dag; stdout in $T/out, stderr in $T/err, status in $rc.
pd() {
  set +e
  "$POVID_DAG" "$@" >"$T/out" 2>"$T/err"
  rc=$?
  set -e
}

expect_rc() { [ "$rc" = "$1" ] || fail "expected exit code $1, got $rc (povid-dag $*)"; checks=$((checks + 1)); }
expect_out() { grep -qF -- "$1" "$T/out" || fail "stdout lacks: $1"; checks=$((checks + 1)); }
expect_err() { grep -qF -- "$1" "$T/err" || fail "stderr lacks: $1"; checks=$((checks + 1)); }
expect_no_err() { ! grep -qF -- "$1" "$T/err" || fail "stderr should not contain: $1"; checks=$((checks + 1)); }
# expect_counts EXECUTED CACHED: from the run's summary line.
expect_counts() {
  local line
  line=$(grep -E '^povid-dag: [0-9]+ executed, [0-9]+ cached' "$T/err" | tail -n 1) || fail "no summary line"
  [[ "$line" =~ ^povid-dag:\ ([0-9]+)\ executed,\ ([0-9]+)\ cached ]] || fail "bad summary: $line"
  [ "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}" = "$1 $2" ] ||
    fail "expected $1 executed, $2 cached; got: $line"
  checks=$((checks + 1))
}
# expect_ran TASK... / expect_not_ran TASK...: from --progress=plain lines.
expect_ran() { for t in "$@"; do grep -qE "\] done $t \(" "$T/err" || fail "task $t did not run"; done; checks=$((checks + 1)); }
expect_not_ran() { for t in "$@"; do ! grep -qE "\] done $t \(" "$T/err" || fail "task $t ran"; done; checks=$((checks + 1)); }

finish() {
  echo "$(basename "$0" .sh): $checks checks passed"
  cd / && rm -rf "$T"
}
