"""train.py DATA LR STEPS OUT: fits y = w x + b by gradient descent and
writes the model and its loss curve (stdlib only)."""
import json
import sys

data_path, lr, steps, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
points = json.load(open(data_path))
w = b = 0.0
curve = []
for step in range(steps):
    gw = gb = loss = 0.0
    for x, y in points:
        err = w * x + b - y
        gw += 2 * err * x / len(points)
        gb += 2 * err / len(points)
        loss += err * err / len(points)
    w -= lr * gw
    b -= lr * gb
    curve.append(loss)
json.dump({"w": w, "b": b}, open(f"{out}/model.json", "w"))
with open(f"{out}/loss.tsv", "w") as f:
    for step, loss in enumerate(curve):
        f.write(f"{step}\t{loss:.6f}\n")
