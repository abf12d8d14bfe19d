# graphs/full.dag (what `make run` runs) and graphs/ablation.dag at toy size:
# every stage of full.dag runs and writes the report, a rerun is a no-op,
# ablation.dag after it trains and evaluates only its variants, a seed
# change reruns everything. (smoke.dag and its audit: smoke_test.sh.)
source "$(dirname "$0")/lib.sh"
cp -r "$PD_SRC/graphs" g
rm -rf g/.povid
toy=(--set train=96 --set eval=12 --set vision_steps=10 --set sft_steps=10 --set dpo_steps=3
     --set dpo_batch=2 --set eval_images=6 --set pope_questions=6)
pd run g/full.dag "${toy[@]}" --progress=plain; expect_rc 0; expect_counts 9 0
expect_ran subset vision sft corrupted noisy dpo_both eval_base eval_both report
pd show g/full.dag report.report "${toy[@]}"; expect_rc 0; r=$(cat "$T/out")
[ -f "$r/report.md" ] && [ -f "$r/report.html" ] || fail "report incomplete in $r"
grep -q "^| both " "$r/report.md" || fail "report: $(head -20 "$r/report.md")"
pd run g/full.dag "${toy[@]}"; expect_rc 0; expect_counts 0 9
pd run g/ablation.dag "${toy[@]}" --progress=plain; expect_rc 0; expect_counts 9 8
expect_ran dpo_text dpo_image dpo_anchor dpo_control eval_text eval_image eval_anchor eval_control report
expect_not_ran sft dpo_both eval_base
pd show g/ablation.dag report.report "${toy[@]}"; expect_rc 0; r=$(cat "$T/out")
for v in base both text image anchor control; do
  grep -q "^| $v " "$r/report.md" || fail "ablation report has no row $v"
done
pd run g/full.dag "${toy[@]}" --set seed=2 --progress=plain; expect_rc 0; expect_counts 9 0
pd graph g/full.dag; expect_rc 0; expect_out '"sft" -> "dpo_both"'
checks=$((checks + 3))
finish
