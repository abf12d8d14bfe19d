# The report kind over three seeds: metrics, answers and curves given as
# lists (element i = seed i), written by write tasks with known numbers.
# Each seed's base model has its own frontier, and the variants' recalls
# differ by seed, so a distance taken to the wrong seed's frontier gives a
# different number. Checks the means and sample sds in summary.json, the
# "x ± y" cells, the per-seed table, "k/n extrapolated", the first seed's
# captions, one line per seed in the curves, the list refs being edges,
# and the errors for lists of different lengths and for wrong types.
source "$(dirname "$0")/lib.sh"

# A DAG string holding JSON: quotes escaped.
dq() { printf '%s' "$1" | tr '\n' ' ' | sed 's/"/\\"/g'; }

# base_json S1 S2 S3 WORDS OBJECTS POPE: the base at eos_bias 2, 1, 0 with
# recalls 0.60, 0.70, 0.80 and CHAIR_S S1, S2, S3.
base_json() {
  dq "{\"model_digest\": \"base\", \"chair\": [
    {\"eos_bias\": 0, \"chair_s\": $3, \"chair_i\": 0.10, \"recall\": 0.80, \"objects_per_answer\": $5, \"avg_words\": $4},
    {\"eos_bias\": 1, \"chair_s\": $2, \"chair_i\": 0.08, \"recall\": 0.70, \"avg_words\": 12.0},
    {\"eos_bias\": 2, \"chair_s\": $1, \"chair_i\": 0.06, \"recall\": 0.60, \"avg_words\": 9.0}],
    \"pope\": {\"random\": {\"f1\": $6}}}"
}
# variant_json CHAIR_S RECALL CHAIR_I
variant_json() {
  dq "{\"chair\": [{\"eos_bias\": 0, \"chair_s\": $1, \"chair_i\": $3, \"recall\": $2, \"avg_words\": 14.0}]}"
}

# Per seed: base frontier (0.60, a) (0.70, b) (0.80, c).
#   seed 1: 0.22 0.30 0.40   seed 2: 0.28 0.36 0.46   seed 3: 0.32 0.42 0.52
# both at recall 0.70 / 0.65 / 0.75 -> its own frontier 0.30 / 0.32 / 0.47;
#   CHAIR_S 0.20 / 0.28 / 0.31 -> distances +10 / +4 / +16 (mean 10, sd 6).
#   (Seed 1's frontier would give 0.26 and 0.35 for seeds 2 and 3: -2, +4.)
# text at recall 0.85 / 0.75 / 0.90 -> 0.45 (extrapolated) / 0.41 / 0.62
#   (extrapolated); CHAIR_S 0.40 / 0.36 / 0.57 -> +5 each, 2/3 extrapolated.
graph() { # $1: the metrics map
  cat <<DAG
task eval_base_1 = write { content = "$(base_json 0.22 0.30 0.40 17.0 2.0 0.80)" }
task eval_base_2 = write { content = "$(base_json 0.28 0.36 0.46 18.0 2.5 0.84)" }
task eval_base_3 = write { content = "$(base_json 0.32 0.42 0.52 19.0 3.0 0.88)" }
task eval_both_1 = write { content = "$(variant_json 0.20 0.70 0.05)" }
task eval_both_2 = write { content = "$(variant_json "${BOTH2:-0.28}" 0.65 0.06)" }
task eval_both_3 = write { content = "$(variant_json 0.31 0.75 0.07)" }
task eval_text_1 = write { content = "$(variant_json 0.40 0.85 0.09)" }
task eval_text_2 = write { content = "$(variant_json 0.36 0.75 0.09)" }
task eval_text_3 = write { content = "$(variant_json 0.57 0.90 0.09)" }
task ans_base_1 = write { content = "{\"kind\":\"chair\",\"eos_bias\":0,\"id\":\"img1\",\"answer\":\"Seed one says a circle.\",\"hallucinated\":[]}\n" }
task ans_base_2 = write { content = "{\"kind\":\"chair\",\"eos_bias\":0,\"id\":\"img1\",\"answer\":\"Seed two says a square.\",\"hallucinated\":[\"square\"]}\n" }
task ans_both_1 = write { content = "{\"kind\":\"chair\",\"eos_bias\":0,\"id\":\"img1\",\"answer\":\"Both seed one.\",\"hallucinated\":[]}\n" }
task ans_both_2 = write { content = "{\"kind\":\"chair\",\"eos_bias\":0,\"id\":\"img1\",\"answer\":\"Both seed two.\",\"hallucinated\":[]}\n" }
task dpo_1 = write { content = "step\tloss\n1\t0.70\n2\t0.60\n" }
task dpo_2 = write { content = "step\tloss\n1\t0.70\n2\t0.50\n" }
task dpo_3 = write { content = "step\tloss\n1\t0.70\n2\t0.40\n3\t0.30\n" }
task rep = report {
  title   = "Three seeds"
  metrics = $1
  answers = { base = [ans_base_1.text, ans_base_2.text], both = [ans_both_1.text, ans_both_2.text] }
  curves  = { dpo = [dpo_1.text, dpo_2.text, dpo_3.text] }
}
DAG
}
M3='{ base = [eval_base_1.text, eval_base_2.text, eval_base_3.text], both = [eval_both_1.text, eval_both_2.text, eval_both_3.text], text = [eval_text_1.text, eval_text_2.text, eval_text_3.text] }'

graph "$M3" > g.dag
pd run g.dag --progress=plain; expect_rc 0; expect_counts 17 0; expect_ran rep
# Every list element is an edge: the report ran after each of them.
for t in eval_base_3 eval_both_2 eval_text_1 ans_both_2 dpo_3; do
  [ "$(grep -n "done $t (" "$T/err" | cut -d: -f1)" -lt "$(grep -n "run rep (" "$T/err" | cut -d: -f1)" ] ||
    fail "rep started before $t finished"
done
checks=$((checks + 1))

pd show g.dag rep.summary --cat; expect_rc 0; cp "$T/out" summary.json
python3 - summary.json <<'PY' || fail "summary.json numbers"
import json, math, statistics, sys
j = json.load(open(sys.argv[1]))
assert j["seeds"] == 3, j["seeds"]
v = {x["name"]: x for x in j["variants"]}
assert [x["name"] for x in j["variants"]] == ["base", "both", "text"]
def close(a, b, what):
    assert a is not None and abs(a - b) < 1e-9, (what, a, b)
def check(name, field, values):
    m = v[name]
    close(m["mean"][field], statistics.mean(values), name + " mean " + field)
    close(m["sd"][field], statistics.stdev(values), name + " sd " + field)
    close(m[field], statistics.mean(values), name + " " + field)  # the old field: the mean
    for s, x in enumerate(values):
        close(m["per_seed"][s][field], x, "%s seed %d %s" % (name, s + 1, field))
# Distances, each to the seed's own frontier (seed 1's would give -2 and +4).
check("both", "delta_points", [10, 4, 16])
close(v["both"]["mean"]["delta_points"], 10, "both mean distance")
close(v["both"]["sd"]["delta_points"], 6, "both sd distance")
check("both", "frontier_chair_s", [0.30, 0.32, 0.47])
check("both", "chair_s", [0.20, 0.28, 0.31])
check("both", "recall", [0.70, 0.65, 0.75])
check("both", "chair_i", [0.05, 0.06, 0.07])
check("base", "chair_s", [0.40, 0.46, 0.52])
close(v["base"]["sd"]["chair_s"], 0.06, "base sd chair_s")
check("base", "avg_words", [17, 18, 19])
check("base", "objects_per_answer", [2.0, 2.5, 3.0])
check("base", "delta_points", [0, 0, 0])
close(v["base"]["pope_f1"]["random"], 0.84, "base pope random")
close(v["base"]["sd"]["pope_f1"]["random"], 0.04, "base sd pope random")
assert v["base"]["sd"]["pope_f1"]["popular"] is None
check("text", "delta_points", [5, 5, 5])
t = v["text"]
assert t["outside_seeds"] == 2 and t["outside"] is True, t["outside_seeds"]
assert [p["outside"] for p in t["per_seed"]] == [True, False, True]
assert v["both"]["position"] == "below" and v["both"]["outside_seeds"] == 0
assert v["both"]["per_seed"][1]["ref"] == "eval_both_2.text"
# Each seed's frontier; "frontier" stays seed 1's.
assert len(j["frontiers"]) == 3 and j["frontier"] == j["frontiers"][0]
assert [p["chair_s"] for p in j["frontiers"][2]] == [0.32, 0.42, 0.52]
ins = [(i["param"], i["name"], i.get("seed")) for i in j["inputs"]]
assert ins[:3] == [("metrics", "base", 1), ("metrics", "base", 2), ("metrics", "base", 3)], ins
PY
checks=$((checks + 1))

pd show g.dag rep.report; expect_rc 0; d=$(cat "$T/out")
md="$d/report.md"
for want in \
  "Mean ± sample standard deviation (n − 1 denominator) over n = 3 seeds." \
  "| base | 46.0 ± 6.0 | 10.0 ± 0.0 | 80.0 ± 0.0 | 2.50 ± 0.50 | 18.0 ± 1.0 | 84.0 ± 4.0 | — | — | +0.0 ± 0.0 on |" \
  "| both | 26.3 ± 5.7 | 6.0 ± 1.0 | 70.0 ± 5.0 | — | 14.0 ± 0.0 | — | — | — | +10.0 ± 6.0 below |" \
  "| text | 44.3 ± 11.2 | 9.0 ± 0.0 | 83.3 ± 7.6 | — | 14.0 ± 0.0 | — | — | — | +5.0 ± 0.0 below (2/3 extrapolated) |" \
  "### Per seed" \
  "| model | seed | CHAIR\\_S | recall | frontier CHAIR\\_S at that recall | Δ to frontier | metrics |" \
  "| both | 1 | 20.0 | 70.0 | 30.0 | +10.0 below | eval\\_both\\_1.text |" \
  "| both | 2 | 28.0 | 65.0 | 32.0 | +4.0 below | eval\\_both\\_2.text |" \
  "| both | 3 | 31.0 | 75.0 | 47.0 | +16.0 below | eval\\_both\\_3.text |" \
  "| text | 1 | 40.0 | 85.0 | 45.0 | +5.0 below (extrapolated) | eval\\_text\\_1.text |" \
  "| text | 2 | 36.0 | 75.0 | 41.0 | +5.0 below | eval\\_text\\_2.text |" \
  "| 1 | 70.0 ± 0.0 | 36.0 ± 6.0 | 12.0 ± 0.0 |" \
  "| CHAIR\\_S | 66.8 | 31.8 | -35.0 | 46.0 ± 6.0 | 26.3 ± 5.7 | -19.7 ± 1.5 | same |" \
  "| text (paper: text-only) | 39.6 | -27.2 | 44.3 ± 11.2 | -1.7 ± 7.6 | none (within 1 sd) |" \
  "| dpo (3 seeds) | loss | 2–3 | 0.7 ± 0 | 0.4667 ± 0.15 | 0.4667 ± 0.15 | 0.7 ± 0 |" \
  "the captions are the first seed's" "- **base**: Seed one says a circle." "- **both**: Both seed one." \
  "| metrics | both (seed 2) | eval\\_both\\_2.text |"; do
  grep -qF -- "$want" "$md" || fail "report.md lacks: $want"
  checks=$((checks + 1))
done
for nowant in "Seed two says" "Both seed two" "(outside: extrapolated)"; do
  ! grep -qF -- "$nowant" "$md" || fail "report.md should not have: $nowant"
  checks=$((checks + 1))
done

html="$d/report.html"
for want in "<h3>Per seed</h3>" "26.3 ± 5.7" "error bars: ± one sample sd" \
            "base model&#39;s sweep, per seed" "dpo: loss (a line per seed)" \
            'stroke-opacity="0.75"' 'fill-opacity="0.55"' 'stroke="#1a202c"'; do
  grep -qF -- "$want" "$html" || fail "report.html lacks: $want"
  checks=$((checks + 1))
done
# Three thin frontier lines, nine per-seed dots, three dpo lines.
[ "$(grep -c 'stroke-opacity="0.75"' "$html")" = 3 ] || fail "not one frontier line per seed"
[ "$(grep -c 'fill-opacity="0.55"' "$html")" = 9 ] || fail "not one dot per model and seed"
checks=$((checks + 2))
# Every chart is well-formed XML.
python3 - "$html" <<'PY' || fail "an SVG chart is not well-formed"
import re, sys, xml.dom.minidom
svgs = re.findall(r"<svg.*?</svg>", open(sys.argv[1], encoding="utf-8").read(), re.S)
assert len(svgs) >= 5, len(svgs)
for s in svgs:
    xml.dom.minidom.parseString(s.encode())
PY
checks=$((checks + 1))

# Changing one seed's file reruns that write and the report only.
BOTH2=0.30 graph "$M3" > g2.dag
pd run g2.dag --progress=plain; expect_rc 0; expect_counts 2 15; expect_ran eval_both_2 rep
pd show g2.dag rep.report; grep -qF "| both | 2 | 30.0 | 65.0 | 32.0 | +2.0 below |" "$(cat "$T/out")/report.md" ||
  fail "per-seed row not updated"
checks=$((checks + 1))

# Lists of different lengths: a graph error naming the entry and both lengths.
graph '{ base = [eval_base_1.text, eval_base_2.text, eval_base_3.text], both = [eval_both_1.text, eval_both_2.text], text = [eval_text_1.text, eval_text_2.text, eval_text_3.text] }' > bad.dag
pd run bad.dag; expect_rc 2
expect_err "metrics entry 'both' has 2 seeds but the base entry 'base' has 3"
# A single artifact among lists of three is a list of one.
graph '{ base = [eval_base_1.text, eval_base_2.text, eval_base_3.text], both = eval_both_1.text, text = [eval_text_1.text, eval_text_2.text, eval_text_3.text] }' > bad.dag
pd run bad.dag; expect_rc 2; expect_err "metrics entry 'both' has 1 seed but the base entry 'base' has 3"
# Wrong types, in a list and as the value.
graph '{ base = [eval_base_1.text, 3], both = [eval_both_1.text, eval_both_2.text] }' > bad.dag
pd run bad.dag; expect_rc 2; expect_err "metrics entry 'base', seed 2: must be a task's output"; expect_err "not a integer"
graph '{ base = [eval_base_1.text], both = 0.5 }' > bad.dag
pd run bad.dag; expect_rc 2; expect_err "metrics entry 'both' must be a task's output or a file(\"...\"), or a list of them"
graph '{ base = [eval_base_1.text], both = [] }' > bad.dag
pd run bad.dag; expect_rc 2; expect_err "metrics entry 'both' is an empty list"
# A bad file of one seed is named with its seed.
graph "$M3" | sed 's/^task eval_text_3 = write .*/task eval_text_3 = write { content = "{oops" }/' > bad.dag
pd run bad.dag; expect_rc 1; expect_err "metrics 'text' (seed 3)"; expect_err "malformed JSON"
finish
