"""distort_numpy.py - the forward diffusion noise of distort_images in NumPy,
the peer that bench/distort_bench.sh times the C kernel against.

    python3 bench/distort_numpy.py [N] [--repeats R]

The same formula on N (default 20000) 32x32x3 uint8 images, one draw, k = 500
of the sigmoid schedule (POVID / VCD's code, computed in float64):

    x0  = images.astype(float32) / 255
    eps = rng.standard_normal(x0.shape, dtype=float32)
    x_k = float32(sqrt(abar_k)) * x0 + float32(sqrt(1 - abar_k)) * eps

timed as the best of R (default 5) runs, with NumPy's default generator
(PCG64 + ziggurat) and with Philox (the C kernel's bit generator; NumPy
still draws its normals by ziggurat). NumPy runs on one thread. Prints
lines "numpy rng=NAME seconds=S images_per_s=X" for the script.
"""
import sys
import time

import numpy as np


def schedule_sigmoid(T=1000):
    betas = 1.0 / (1.0 + np.exp(-np.linspace(-6.0, 6.0, T))) * (5e-3 - 1e-5) + 1e-5
    return np.cumprod(1.0 - betas)


def distort(images, rng, sa, sb):
    x0 = images.astype(np.float32) / np.float32(255.0)
    eps = rng.standard_normal(x0.shape, dtype=np.float32)
    return sa * x0 + sb * eps


def main():
    args = sys.argv[1:]
    repeats = 5
    if "--repeats" in args:
        i = args.index("--repeats")
        repeats = int(args[i + 1])
        del args[i:i + 2]
    n = int(args[0]) if args else 20000
    abar = schedule_sigmoid()
    sa, sb = np.float32(np.sqrt(abar[500])), np.float32(np.sqrt(1.0 - abar[500]))
    images = np.random.default_rng(0).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    print("# numpy %s, %d images of 32x32x3, k = 500: sqrt(abar) %.6f, sqrt(1 - abar) %.6f"
          % (np.__version__, n, sa, sb))
    for name, make in (("pcg64", lambda: np.random.default_rng(1)),
                       ("philox", lambda: np.random.Generator(np.random.Philox(1)))):
        rng = make()
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = distort(images, rng, sa, sb)
            best = min(best, time.perf_counter() - t0)
        r = (out - sa * (images.astype(np.float32) / np.float32(255.0))) / sb
        print("numpy rng=%s seconds=%.4f images_per_s=%.0f eps_mean=%.4f eps_var=%.4f"
              % (name, best, n / best, r.mean(), r.var()))


if __name__ == "__main__":
    main()
