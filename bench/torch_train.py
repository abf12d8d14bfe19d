#!/usr/bin/python3
"""torch_train.py - the PyTorch side of bench/torch_bench.sh: training (and
greedy generation) speed of the same model as bench/sft_bench.c, in float32.

    /usr/bin/python3 bench/torch_train.py [--threads N] [--steps N] [--warmup N]
        [--batch B] [--text T] [--full] [--gen-batch B] [--gen-prompt T] [--gen-new N]

Same config (llava_config_default: image 32, patch 4, vision 64 wide x 4
blocks of which 3 run (feature_layer -2), LM 128 wide x 4 layers, SwiGLU
344, vocabulary 512), the same batch bytes (sft_bench's splitmix64 stream:
B random images, T text positions, IMAGE token at 3, loss on the answer
positions from T/2 on) and the same step as train_sft: forward,
zero_grad, backward, clip the global norm to 1, AdamW (lr 1e-3, wd 0.01,
eps 1e-8); vision tower frozen unless --full. The model is the usual
PyTorch way of writing it (F.linear, F.conv2d, softmax attention with a
causal mask, F.cross_entropy), vectorised over the batch: the model of
tests/torch_twin.py, which checks the C model's numbers, minus its
per-row loops. Generation: greedy with a KV cache, the prefill in one
forward, as model/generate.c does.

torch.set_num_threads(N) (default 1); torch_bench.sh also sets
OPENBLAS_NUM_THREADS=N for the BLAS torch calls. Prints the shared library
that provides BLAS in this process (read from /proc/self/maps after a
matmul). The last line is machine readable: RESULT key=value...
"""
import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

CFG = dict(image_size=32, patch_size=4, channels=3, v_width=64, v_layers=4, v_heads=4,
           v_mlp=256, feature_layer=-2, vocab=512, width=128, layers=4, heads=4, hidden=344,
           image_token=1, init_std=0.02)
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


class SplitMix:
    """sft_bench.c's stream, so that the batch is the same bytes."""

    def __init__(self, seed=0x73667462656E6368):
        self.s = seed

    def next(self):
        m = (1 << 64) - 1
        self.s = (self.s + 0x9E3779B97F4A7C15) & m
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        return z ^ (z >> 31)

    def uniform(self, n):
        return np.array([(self.next() >> 40) * 2.0 ** -24 for _ in range(n)], dtype=np.float32)


class Model:
    def __init__(self, c, full):
        g = torch.Generator().manual_seed(1)
        self.c = c
        Cv, Hv, C, H, V = c["v_width"], c["v_mlp"], c["width"], c["hidden"], c["vocab"]
        K = c["channels"] * c["patch_size"] ** 2
        self.P = (c["image_size"] // c["patch_size"]) ** 2
        nr = c["v_layers"] + 1 + c["feature_layer"] if c["feature_layer"] < 0 else c["feature_layer"]
        self.nr = nr

        def mat(*shape, std=c["init_std"]):
            return torch.randn(*shape, generator=g) * std

        vres = c["init_std"] / math.sqrt(2 * c["v_layers"])
        res = c["init_std"] / math.sqrt(2 * c["layers"])
        self.vision = {"patch": mat(Cv, c["channels"], c["patch_size"], c["patch_size"]),
                       "pos": mat(self.P, Cv), "pre_w": torch.ones(Cv), "pre_b": torch.zeros(Cv)}
        for i in range(nr):
            self.vision.update({
                f"{i}.ln1w": torch.ones(Cv), f"{i}.ln1b": torch.zeros(Cv),
                f"{i}.qkvw": mat(3 * Cv, Cv), f"{i}.qkvb": torch.zeros(3 * Cv),
                f"{i}.projw": mat(Cv, Cv, std=vres), f"{i}.projb": torch.zeros(Cv),
                f"{i}.ln2w": torch.ones(Cv), f"{i}.ln2b": torch.zeros(Cv),
                f"{i}.fcw": mat(Hv, Cv), f"{i}.fcb": torch.zeros(Hv),
                f"{i}.fc2w": mat(Cv, Hv, std=vres), f"{i}.fc2b": torch.zeros(Cv)})
        self.rest = {"p1w": mat(C, Cv), "p1b": torch.zeros(C), "p2w": mat(C, C), "p2b": torch.zeros(C),
                     "wte": mat(V, C), "lnf": torch.ones(C), "head": mat(V, C)}
        for i in range(c["layers"]):
            self.rest.update({
                f"{i}.ln1": torch.ones(C), f"{i}.qkv": mat(3 * C, C), f"{i}.o": mat(C, C, std=res),
                f"{i}.ln2": torch.ones(C), f"{i}.gateup": mat(2 * H, C), f"{i}.down": mat(C, H, std=res)})
        for v in self.vision.values():
            v.requires_grad_(full)
        for v in self.rest.values():
            v.requires_grad_(True)
        hs = C // c["heads"]
        inv = 1.0 / (10000.0 ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
        ang = torch.arange(4096, dtype=torch.float64)[:, None] * inv[None, :]
        emb = torch.cat([ang, ang], -1)
        self.cos, self.sin = emb.cos().float(), emb.sin().float()
        self.mean = torch.tensor(CLIP_MEAN)
        self.std = torch.tensor(CLIP_STD)

    def params(self):
        return [p for p in list(self.vision.values()) + list(self.rest.values()) if p.requires_grad]

    @staticmethod
    def attention(q, k, v, nh, causal):
        B, T, C = q.shape
        Tk = k.shape[1]
        hs = C // nh
        q = q.view(B, T, nh, hs).transpose(1, 2)
        k = k.view(B, Tk, nh, hs).transpose(1, 2)
        v = v.view(B, Tk, nh, hs).transpose(1, 2)
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hs))
        if causal and T > 1:
            mask = torch.ones(T, Tk, dtype=torch.bool).tril(Tk - T)
            att = att.masked_fill(~mask, float("-inf"))
        return (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)

    def rope(self, x, pos0):
        B, L, C = x.shape
        nh = self.c["heads"]
        hs = C // nh
        cos, sin = self.cos[pos0:pos0 + L], self.sin[pos0:pos0 + L]
        x = x.view(B, L, nh, hs)
        rot = torch.cat([-x[..., hs // 2:], x[..., : hs // 2]], -1)
        return (x * cos[:, None, :] + rot * sin[:, None, :]).view(B, L, C)

    def image_features(self, images):
        c, p = self.c, self.vision
        Cv = c["v_width"]
        x = ((images - self.mean) / self.std).permute(0, 3, 1, 2)
        x = F.conv2d(x, p["patch"], stride=c["patch_size"]).flatten(2).transpose(1, 2) + p["pos"]
        x = F.layer_norm(x, (Cv,), p["pre_w"], p["pre_b"], 1e-5)
        for i in range(self.nr):
            h = F.layer_norm(x, (Cv,), p[f"{i}.ln1w"], p[f"{i}.ln1b"], 1e-5)
            q, k, v = F.linear(h, p[f"{i}.qkvw"], p[f"{i}.qkvb"]).split(Cv, -1)
            x = x + F.linear(self.attention(q, k, v, c["v_heads"], False), p[f"{i}.projw"], p[f"{i}.projb"])
            h = F.layer_norm(x, (Cv,), p[f"{i}.ln2w"], p[f"{i}.ln2b"], 1e-5)
            h = F.gelu(F.linear(h, p[f"{i}.fcw"], p[f"{i}.fcb"]), approximate="tanh")
            x = x + F.linear(h, p[f"{i}.fc2w"], p[f"{i}.fc2b"])
        r = self.rest
        x = F.gelu(F.linear(x, r["p1w"], r["p1b"]), approximate="tanh")
        return F.linear(x, r["p2w"], r["p2b"])

    @staticmethod
    def rmsnorm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

    def lm(self, x, pos0=0, cache=None):
        """x (B, L, C) embeddings -> logits; cache: list of (k, v) per layer,
        extended in place when given."""
        c, r = self.c, self.rest
        C, H = c["width"], c["hidden"]
        for i in range(c["layers"]):
            h = self.rmsnorm(x, r[f"{i}.ln1"])
            q, k, v = F.linear(h, r[f"{i}.qkv"]).split(C, -1)
            q, k = self.rope(q, pos0), self.rope(k, pos0)
            if cache is not None:
                if len(cache) > i:
                    k = torch.cat([cache[i][0], k], 1)
                    v = torch.cat([cache[i][1], v], 1)
                    cache[i] = (k, v)
                else:
                    cache.append((k, v))
            x = x + F.linear(self.attention(q, k, v, c["heads"], True), r[f"{i}.o"])
            h = self.rmsnorm(x, r[f"{i}.ln2"])
            a, b = F.linear(h, r[f"{i}.gateup"]).split(H, -1)
            x = x + F.linear(F.silu(a) * b, r[f"{i}.down"])
        return F.linear(self.rmsnorm(x, r["lnf"]), r["head"])

    def embed(self, images, tokens, k):
        """The IMAGE token at position k of every row (sft_bench's layout)."""
        e = F.embedding(tokens, self.rest["wte"])
        return torch.cat([e[:, :k], self.image_features(images), e[:, k + 1:]], 1)


def make_batch(c, B, T, rng):
    S = c["image_size"]
    images = rng.uniform(B * S * S * c["channels"]).reshape(B, S, S, c["channels"])
    tok = np.zeros((B, T), np.int64)
    tgt = np.full((B, T), -1, np.int64)
    w = np.zeros((B, T), np.float32)
    for b in range(B):
        row = [2 + rng.next() % (c["vocab"] - 2) for _ in range(T)]
        row[3] = c["image_token"]
        tok[b] = row
        for t in range(T):
            if t >= T // 2 and t + 1 < T:
                w[b, t], tgt[b, t] = 1.0, row[t + 1]
    return images, tok, tgt, w


def lm_layout(tgt, w, k, P):
    """Targets and weights moved to the LM positions (the IMAGE token's
    prediction to the last image position); -100 = ignored."""
    B, T = tgt.shape
    L = T - 1 + P
    lt = np.full((B, L), -100, np.int64)
    lw = np.zeros((B, L), np.float32)
    for t in range(T):
        pos = t if t < k else t + P - 1
        on = w[:, t] > 0
        lt[on, pos] = tgt[on, t]
        lw[on, pos] = w[on, t]
    return torch.from_numpy(lt), torch.from_numpy(lw)


def blas_library():
    a = torch.randn(64, 64)
    (a @ a).sum().item()
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "blas" in path.lower() or "lapack" in path.lower():
                libs.add(path)
    return sorted(libs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--text", type=int, default=40)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--gen-batch", type=int, default=32)
    ap.add_argument("--gen-prompt", type=int, default=20)
    ap.add_argument("--gen-new", type=int, default=32)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c = CFG
    m = Model(c, a.full)
    rng = SplitMix()
    images, tok, tgt, w = make_batch(c, a.batch, a.text, rng)
    images, tok = torch.from_numpy(images), torch.from_numpy(tok)
    lt, lw = lm_layout(tgt, w, 3, m.P)
    wsum = lw.sum(1)
    opt = torch.optim.AdamW(m.params(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    V = c["vocab"]

    def step():
        logits = m.lm(m.embed(images, tok, 3))
        nll = F.cross_entropy(logits.view(-1, V), lt.view(-1), ignore_index=-100, reduction="none")
        loss = ((nll.view(lt.shape) * lw).sum(1) / wsum.clamp_min(1e-30)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.params(), 1.0)
        opt.step()
        return float(loss)

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    train_s = time.perf_counter() - t0

    # greedy generation with a KV cache
    gimages = torch.from_numpy(rng.uniform(a.gen_batch * c["image_size"] ** 2 * c["channels"]).reshape(
        a.gen_batch, c["image_size"], c["image_size"], c["channels"]))
    gtok = torch.tensor([[3 + rng.next() % (V - 3) for _ in range(a.gen_prompt)] for _ in range(a.gen_batch)])
    gtok[:, 3] = c["image_token"]

    def generate(n):
        with torch.no_grad():
            cache = []
            x = m.embed(gimages, gtok, 3)
            logits = m.lm(x, 0, cache)[:, -1]
            pos = x.shape[1]
            out = []
            for s in range(n):
                logits[:, c["image_token"]] = float("-inf")
                nxt = logits.argmax(-1)
                out.append(nxt)
                if s + 1 == n:
                    break
                logits = m.lm(F.embedding(nxt[:, None], m.rest["wte"]), pos, cache)[:, -1]
                pos += 1
            return torch.stack(out, 1)

    generate(2)
    t0 = time.perf_counter()
    generate(a.gen_new)
    gen_s = time.perf_counter() - t0

    ex = a.steps * a.batch / train_s
    tps = a.gen_batch * a.gen_new / gen_s
    print(f"PyTorch {torch.__version__}: {sum(p.numel() for p in m.params())} trainable parameters, "
          f"batch {a.batch}, T {a.text}, threads {torch.get_num_threads()}, "
          f"{'whole model trained' if a.full else 'vision tower frozen'}")
    print(f"  BLAS loaded: {', '.join(blas_library()) or 'none found in /proc/self/maps'}")
    print(f"  train: {a.steps} steps in {train_s:.3f} s: {ex:.1f} examples/s, last loss {loss:.4f}")
    print(f"  generate: batch {a.gen_batch}, prompt {a.gen_prompt}, {a.gen_new} new tokens, greedy: "
          f"{gen_s:.3f} s, {tps:.1f} tokens/s")
    print(f"RESULT train_ex_per_s={ex:.3f} gen_tok_per_s={tps:.2f}")


if __name__ == "__main__":
    main()
