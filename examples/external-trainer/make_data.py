"""make_data.py SEED N OUT: noisy points on y = 3x + 1, seeded (stdlib only)."""
import json
import random
import sys

seed, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(seed)
points = []
for _ in range(n):
    x = rng.uniform(-1, 1)
    points.append([x, 3 * x + 1 + rng.gauss(0, 0.1)])
with open(out, "w") as f:
    json.dump(points, f)
