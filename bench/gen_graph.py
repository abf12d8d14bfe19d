#!/usr/bin/env python3
"""gen_graph.py - a wide and deep graph of exec tasks, as a povid-dag graph
and as the equivalent build.ninja, for the no-op rerun benchmark.

LAYERS x WIDTH tasks; each task of layer L > 0 reads two tasks of layer L-1
(a butterfly pattern, so the graph is both wide and deep) and writes the
cksum of their concatenation (a small file). Usage: gen_graph.py DIR [LAYERS] [WIDTH]
"""
import os
import sys


def main():
    out = sys.argv[1]
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    os.makedirs(out, exist_ok=True)
    dag = []
    ninja = ["rule leaf\n  command = echo $seed > $out\n",
             "rule join\n  command = cat $in | cksum > $out\n"]
    for layer in range(layers):
        for i in range(width):
            name = f"t{layer}_{i}"
            if layer == 0:
                dag.append(f'task {name} = exec {{\n'
                           f'  command = ["sh", "-c", "echo {i} > ${{out}}/o"]\n'
                           f'  outputs = {{ o = "o" }}\n}}\n')
                ninja.append(f"build out/{name}: leaf\n  seed = {i}\n")
            else:
                a = f"t{layer - 1}_{i}"
                b = f"t{layer - 1}_{(i + (1 << (layer % 7))) % width}"
                dag.append(f'task {name} = exec {{\n'
                           f'  command = ["sh", "-c", "cat $1 $2 | cksum > $3/o", "sh", {a}.o, {b}.o, "${{out}}"]\n'
                           f'  outputs = {{ o = "o" }}\n}}\n')
                ninja.append(f"build out/{name}: join out/{a} out/{b}\n")
    with open(os.path.join(out, "wide.dag"), "w") as f:
        f.write("".join(dag))
    with open(os.path.join(out, "build.ninja"), "w") as f:
        f.write("".join(ninja))


if __name__ == "__main__":
    main()
