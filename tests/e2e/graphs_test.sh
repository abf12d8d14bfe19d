# graphs/full.dag (what `make run` runs) and graphs/ablation.dag at toy size:
# every stage of full.dag runs and writes the report, a rerun is a no-op,
# ablation.dag after it trains and evaluates only its variants, a second
# seed runs only its own pipeline and the report (now over both seeds), a
# seed alone reruns everything. (smoke.dag and its audit: smoke_test.sh.)
source "$(dirname "$0")/lib.sh"
cp -r "$PD_SRC/graphs" g
rm -rf g/.povid
toy=(--set train=96 --set eval=12 --set vision_steps=10 --set sft_steps=10 --set dpo_steps=3
     --set dpo_batch=2 --set eval_images=6 --set pope_questions=6)
pd run g/full.dag "${toy[@]}" --progress=plain; expect_rc 0; expect_counts 9 0
expect_ran subset_1 vision_1 sft_1 corrupted_1 noisy_1 dpo_both_1 eval_base_1 eval_both_1 report
pd show g/full.dag report.report "${toy[@]}"; expect_rc 0; r=$(cat "$T/out")
[ -f "$r/report.md" ] && [ -f "$r/report.html" ] || fail "report incomplete in $r"
grep -q "^| both " "$r/report.md" || fail "report: $(head -20 "$r/report.md")"
pd run g/full.dag "${toy[@]}"; expect_rc 0; expect_counts 0 9
pd run g/ablation.dag "${toy[@]}" --progress=plain; expect_rc 0; expect_counts 9 8
expect_ran dpo_text_1 dpo_image_1 dpo_anchor_1 dpo_control_1 eval_text_1 eval_image_1 \
  eval_anchor_1 eval_control_1 report
expect_not_ran sft_1 dpo_both_1 eval_base_1
pd show g/ablation.dag report.report "${toy[@]}"; expect_rc 0; r=$(cat "$T/out")
for v in base both text image anchor control; do
  grep -q "^| $v " "$r/report.md" || fail "ablation report has no row $v"
done
# Seeds 1 and 2: seed 2's pipeline and the report run, seed 1 is reused; the
# report aggregates the two.
pd run g/full.dag "${toy[@]}" --set 'seeds=[1,2]' --progress=plain; expect_rc 0; expect_counts 9 8
expect_ran subset_2 sft_2 dpo_both_2 eval_both_2 report; expect_not_ran sft_1 eval_base_1
pd show g/full.dag report.summary "${toy[@]}" --set 'seeds=[1,2]'; expect_rc 0
python3 -c 'import json,sys; s = json.load(open(sys.argv[1])); assert s["seeds"] == 2, s["seeds"]' \
  "$(cat "$T/out")" || fail "the two-seed summary does not say 2 seeds"
pd run g/full.dag "${toy[@]}" --set 'seeds=[2]' --progress=plain; expect_rc 0; expect_counts 1 8
pd graph g/full.dag; expect_rc 0; expect_out '"sft_1" -> "dpo_both_1"'
checks=$((checks + 4))
finish
