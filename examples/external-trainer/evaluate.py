"""evaluate.py MODEL DATA: prints the model's mean squared error."""
import json
import sys

model, points = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
mse = sum((model["w"] * x + model["b"] - y) ** 2 for x, y in points) / len(points)
print(f"w {model['w']:.3f}  b {model['b']:.3f}  mse {mse:.5f}")
