"""report.py WORLD SUMMARY PAIRS PREVIEW GRID OUT: a Markdown report of the
preference data made so far (stdlib only). Stand-in for the `report` task
kind, which will add training curves and CHAIR/POPE tables."""
import json
import os
import shutil
import sys

world_path, summary_path, pairs_dir, preview, grid, out = sys.argv[1:7]
world = json.load(open(world_path))
summary = json.load(open(summary_path))
os.makedirs(out, exist_ok=True)
shutil.copy(preview, os.path.join(out, "preview.png"))
shutil.copy(grid, os.path.join(out, "noise.png"))
train = world["train"]
noise = train["label_noise"]
lines = [
    "# POVID preference data (built-in world)",
    "",
    f"- training images: {train['images']}, objects per image: {train['objects_per_image']}",
    f"- label noise in training descriptions: {noise['noisy']} of {noise['eligible']} eligible "
    f"({noise['rate']:.3f}; configured {noise['configured']})",
    f"- preference pairs: {summary['pairs']} (edits: "
    + ", ".join(f"{k} {v:.3f}" for k, v in summary["shares"].items()) + ")",
    "",
    "## What the descriptions teach: P(b | a) in images vs in descriptions",
    "",
    "| a | b | in images | in descriptions |",
    "| --- | --- | --- | --- |",
]
names = [c["name"] for c in world["categories"]]
img = train["objects_stats"]["conditional"]
for pair in train["mention_stats"]["top_pairs"][:6]:
    a, b = names.index(pair["a"]), names.index(pair["b"])
    lines.append(f"| {pair['a']} | {pair['b']} | {img[a][b]:.2f} | {pair['p_b_given_a']:.2f} |")
lines += ["", "## First pairs", ""]
with open(os.path.join(pairs_dir, "pairs.jsonl")) as f:
    for _, line in zip(range(4), f):
        p = json.loads(line)
        lines += [f"- **{p['image']}** chosen: {p['chosen']}", f"  rejected: {p['rejected']}"]
lines += ["", "![first training images](preview.png)", "", "![diffusion noise](noise.png)", ""]
with open(os.path.join(out, "report.md"), "w") as f:
    f.write("\n".join(lines))
