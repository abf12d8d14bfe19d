# graphs/smoke.dag, the whole POVID pipeline at toy size: every stage runs
# and the report holds the variants; a rerun does nothing; with the text
# dispreference from the chat-completions API (the fake server), an audit
# --reexecute of the run passes with the server gone: the API task is
# replayed from the item memo, every other task reproduces bit for bit.
source "$(dirname "$0")/lib.sh"
: "${PD_SRC:?PD_SRC must name the source directory}"
cp -r "$PD_SRC/graphs" g
rm -rf g/.povid

pd run g/smoke.dag --progress=plain; expect_rc 0
expect_ran subset_1 vision_1 sft_1 corrupted_1 noisy_1 dpo_both_1 dpo_text_1 eval_base_1 eval_both_1 \
  eval_text_1 report
pd show g/smoke.dag report.report; expect_rc 0; r=$(cat "$T/out")
[ -f "$r/report.md" ] && [ -f "$r/report.html" ] || fail "report incomplete in $r"
for v in base both text; do grep -q "| $v " "$r/report.md" || fail "report.md has no row $v"; done
pd show g/smoke.dag report.summary; expect_rc 0
python3 - "$(cat "$T/out")" <<'PY' || fail "summary.json"
import json, sys
s = json.load(open(sys.argv[1]))
names = [v["name"] for v in s["variants"]]
assert names[0] == "base" and set(names) == {"base", "both", "text"}, names
for v in s["variants"]:
    assert 0 <= v["chair_s"] <= 1 and 0 <= v["recall"] <= 1, v
PY
checks=$((checks + 3))
pd run g/smoke.dag --progress=plain; expect_rc 0; expect_counts 0 11

# The API variant: the fake server writes the text dispreferences.
coproc SRV { exec python3 "$PD_SRC/tests/fakes/chat_server.py" --watch-stdin 2>"$T/server.err"; }
srv=$SRV_PID
read -r PORT <&"${SRV[0]}" || fail "the fake server did not start: $(cat "$T/server.err")"
api=(--set backend=openai --set "base_url=http://127.0.0.1:$PORT/v1" --set api_model=fake-vision)
pd run g/smoke.dag "${api[@]}" --cache api --progress=plain; expect_rc 0
expect_ran corrupted_1 dpo_both_1 report
posts=$(curl -s "http://127.0.0.1:$PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["posts"])')
[ "$posts" -ge 96 ] || fail "the server saw $posts requests"
kill "$srv"; wait "$srv" 2>/dev/null || true
run=$("$POVID_DAG" log --cache api | head -n 1 | awk '{print $1}')
pd audit "$run" --reexecute --cache api --out rep; expect_rc 0; expect_out "audit: ok"
python3 - rep/audit.json <<'PY' || fail "audit json: $(head -c 2000 rep/audit.json)"
import json, sys
a = json.load(open(sys.argv[1]))
tasks = {t["name"]: t for t in a["tasks"]}
c = tasks["corrupted_1"]["reexecute"]
assert c["status"] == "reproduced", c
assert c["outputs"]["pairs"]["same"], c
s = c["outputs"]["summary"]
assert s["same"] or s.get("within_tolerance"), s
for name in ("sft_1", "dpo_both_1", "eval_both_1", "report"):
    assert tasks[name]["reexecute"]["status"] == "reproduced", tasks[name]
PY
checks=$((checks + 2))
finish
