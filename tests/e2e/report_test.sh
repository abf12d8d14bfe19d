# The report kind end to end: write tasks stand in for two evaluate tasks
# (metrics.json), a train_dpo task (its TSV) and an evaluate answers file;
# the report's maps reference them, so it waits for them, its pages hold
# the numbers, a rerun is cached and changing one fixture reruns it.
source "$(dirname "$0")/lib.sh"

# metrics.json of the base (an eos_bias sweep) and of one variant.
base_json() {
  printf '%s' '{\"images\": 4, \"max_new_tokens\": 48, \"model_digest\": \"aa11\", \"chair\": [' \
    '{\"eos_bias\": 0, \"chair_s\": 0.40, \"chair_i\": 0.12, \"recall\": 0.80, \"objects_per_answer\": 2.1, \"avg_words\": 17.3},' \
    '{\"eos_bias\": 1, \"chair_s\": 0.30, \"chair_i\": 0.09, \"recall\": 0.70, \"avg_words\": 12.0},' \
    '{\"eos_bias\": 2, \"chair_s\": 0.22, \"chair_i\": 0.07, \"recall\": 0.60, \"avg_words\": 9.5}],' \
    ' \"pope\": {\"random\": {\"f1\": 0.85}, \"popular\": {\"f1\": 0.80}, \"adversarial\": {\"f1\": 0.75}}}'
}
both_json() { # $1: CHAIR_S of the variant
  printf '%s' "{\\\"images\\\": 4, \\\"model_digest\\\": \\\"bb22\\\", \\\"chair\\\": [{\\\"eos_bias\\\": 0, \\\"chair_s\\\": $1, \\\"chair_i\\\": 0.05, \\\"recall\\\": 0.70, \\\"avg_words\\\": 14.0}], \\\"pope\\\": {\\\"random\\\": {\\\"f1\\\": 0.86}}}"
}
graph() { # $1: CHAIR_S of the variant
  cat <<DAG
task eval_base = write { content = "$(base_json)" }
task eval_both = write { content = "$(both_json "$1")" }
task dpo_both = write {
  content = "step\tloss\tmargin_text\tacc_text\tlr\n1\t0.693\t0.0\t0.5\t1e-4\n2\t0.61\t0.2\t0.7\t1e-4\n"
}
task answers_base = write {
  content = "{\"kind\":\"chair\",\"eos_bias\":0,\"id\":\"img1\",\"answer\":\"A circle and two squares <b>.\",\"hallucinated\":[\"square\"]}\n"
}
task rep = report {
  title   = "E2E <report>"
  metrics = { base = eval_base.text, both = eval_both.text }
  answers = { base = answers_base.text }
  curves  = { dpo = dpo_both.text }
}
DAG
}

graph 0.20 > g.dag
pd run g.dag --progress=plain; expect_rc 0; expect_counts 5 0; expect_ran rep
# The report ran after every task it references (they are its edges).
for t in eval_base eval_both dpo_both answers_base; do
  [ "$(grep -n "done $t (" "$T/err" | cut -d: -f1)" -lt "$(grep -n "run rep (" "$T/err" | cut -d: -f1)" ] ||
    fail "rep started before $t finished"
done
checks=$((checks + 1))
pd show g.dag rep.report; expect_rc 0; d=$(cat "$T/out")
[ -f "$d/report.md" ] && [ -f "$d/report.html" ] || fail "report.md or report.html missing in $d"
md=$(cat "$d/report.md"); html=$(cat "$d/report.html")
for want in "| both | 20.0 | 5.0 | 70.0 |" "+10.0 below" "| base | 40.0 | 12.0 | 80.0 |" \
            "two **squares**" "| 66.8 | 31.8 | -35.0 | 40.0 | 20.0 | -20.0 | same |"; do
  grep -qF -- "$want" "$d/report.md" || fail "report.md lacks: $want"
  checks=$((checks + 1))
done
for want in "<h1>E2E &lt;report&gt;</h1>" "<svg" "+10.0 below" "<mark>squares</mark>" "&lt;b&gt;" \
            "dpo: loss" "dpo: margin"; do
  grep -qF -- "$want" "$d/report.html" || fail "report.html lacks: $want"
  checks=$((checks + 1))
done
# Self-contained: no scripts, no URL but the SVG namespace.
! grep -qi "<script" "$d/report.html" || fail "report.html has a script"
! grep -oE 'https?://[^"]*' "$d/report.html" | grep -qv '^http://www.w3.org/2000/svg$' ||
  fail "report.html names an external resource"
checks=$((checks + 2))
pd show g.dag rep.summary --cat; expect_rc 0
grep -q '"delta_points":[[:space:]]*10,' "$T/out" || fail "summary lacks delta_points 10"
checks=$((checks + 1))

# One seed renders as before seeds existed: report.md and report.html are
# the bytes of report kind version 1 for these inputs (report_golden/, made
# by that binary from this graph), but for the version number; summary.json
# keeps every field and value it had and only gains new ones.
golden=$(dirname "$0")/report_golden
same_as_golden() { # $1: report dir
  local f
  for f in report.md report.html; do
    sed 's/report kind version [0-9]*/report kind version N/' "$1/$f" > "$T/new.$f"
    sed 's/report kind version [0-9]*/report kind version N/' "$golden/$f" > "$T/old.$f"
    cmp -s "$T/old.$f" "$T/new.$f" || { diff "$T/old.$f" "$T/new.$f" | head -20 >&2; fail "$f differs from the version 1 report"; }
    checks=$((checks + 1))
  done
}
same_as_golden "$d"
python3 - "$golden/summary.json" "$T/out" <<'PY' || fail "summary.json lost or changed a version 1 field"
import json, sys
old, new = (json.load(open(p)) for p in sys.argv[1:3])
def sub(a, b, path):
    if isinstance(a, dict):
        assert isinstance(b, dict), path
        for k in a:
            if path + k != "version":
                assert k in b, path + k
                sub(a[k], b[k], path + k + ".")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            sub(x, y, path + str(i) + ".")
    else:
        assert a == b, (path, a, b)
sub(old, new, "")
assert new["seeds"] == 1 and new["variants"][1]["sd"]["chair_s"] is None
PY
checks=$((checks + 1))
# A list of one is a single artifact: the same pages.
sed 's/^  metrics = { base = eval_base.text, both = eval_both.text }/  metrics = { base = [eval_base.text], both = [eval_both.text] }/' g.dag > one.dag
grep -qF '[eval_base.text]' one.dag || fail "one.dag was not rewritten"
pd run one.dag; expect_rc 0
pd show one.dag rep.report; expect_rc 0
same_as_golden "$(cat "$T/out")"

# A rerun is cached.
pd run g.dag --progress=plain; expect_rc 0; expect_counts 0 5

# Changing one fixture reruns that write and the report, nothing else.
graph 0.25 > g.dag
pd run g.dag --progress=plain; expect_rc 0; expect_counts 2 3; expect_ran eval_both rep
pd show g.dag rep.report; d=$(cat "$T/out")
grep -qF "| both | 25.0 | 5.0 | 70.0 |" "$d/report.md" || fail "report.md not updated"
grep -qF "+5.0 below" "$d/report.md" || fail "distance not updated"
checks=$((checks + 2))

# A base entry that is not in metrics is a graph error at the map.
sed 's/base = eval_base.text, //' g.dag > bad.dag
pd run bad.dag; expect_rc 2; expect_err "metrics has no entry 'base'"
# A malformed input fails the task, naming the entry.
graph 0.25 | sed 's/^task eval_both = write .*/task eval_both = write { content = "{oops" }/' > bad2.dag
pd run bad2.dag; expect_rc 1; expect_err "metrics 'both'"; expect_err "malformed JSON"
finish
