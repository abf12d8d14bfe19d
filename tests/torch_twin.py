#!/usr/bin/python3
"""torch_twin.py - the PyTorch twin of the C model (model/llava.h).

    /usr/bin/python3 tests/torch_twin.py --dump BUILD/tests/model/twin_dump --dir DIR
    /usr/bin/python3 tests/torch_twin.py --dir DIR        (files already there)

Runs twin_dump (tests/model/twin_dump.c), which writes a small random model
(model.safetensors, Hugging Face LLaVA names), a batch, and what the C model
computes on it. This script builds the same model in PyTorch, written from
the model's documentation rather than from the C code: CLIP-style pre-LN ViT
(conv patch embedding, no class token, pre_layrnorm, tanh GELU, features
from hidden_states[feature_layer] in HF indexing), the mlp2x projector, a
Llama LM (RMSNorm, RoPE with rotate_half, causal attention, SwiGLU, untied
head) with the <image> token replaced by the projected patches. It checks:

  - logits (B, L, V) and the SFT loss (per-example weighted mean NLL, mean
    over the batch);
  - every parameter gradient of that loss;
  - the parameters after 3 AdamW steps (torch.optim.AdamW: its update,
    p (1 - lr wd) - lr mhat / (sqrt(vhat) + eps), is kernels/cpu/adamw.c's
    p - lr (mhat / (sqrt(vhat) + eps) + wd p); parameters without a
    gradient get a zero one so that weight decay applies to them, as in C);
  - a DPO step (tasks/train_dpo.h): the summed log-probs s per row, the loss
    L = (w_text DPO(z_text) + w_image DPO(z_image)) / (w_text + w_image)
        + sft_w NLL(chosen) / its tokens, batch means, with the given
    reference log-probs r, and every parameter gradient of L.

Everything is computed twice, in float32 (the twin) and in float64 (the
reference). For each tensor it prints the C model's and the float32 twin's
max error against float64, scaled by the tensor's max magnitude; the C
value must be within the tensor kind's tolerance. Fails naming the tensor.
Exits 77 (skip) when torch cannot be imported.
"""
import argparse
import json
import math
import os
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e} (apt-get install python3-torch, for /usr/bin/python3)")
    sys.exit(77)

# Tolerances: max |C - ref64| / max |ref64| per tensor. float32 rounding
# through a few layers gives ~1e-6 on this model; the AdamW check is looser
# because a first step moves every parameter by about lr whatever its
# gradient's size, so the few gradients that are 0 in exact arithmetic
# (the key bias of attention: softmax ignores a shift of all scores) move
# by the sign of their rounding noise; those are checked separately.
TOL = {"logits": 2e-5, "loss": 2e-6, "grad": 1e-4, "after3": 2e-4, "dpo": 1e-5, "dpo_grad": 1e-4}


def zero_in_exact(name):
    """The vision attention's key bias: its gradient is 0 in exact arithmetic
    (a shift of every score of a query), so C and torch float32 hold
    rounding noise of either sign there. Its gradient is measured against
    the scale of the query bias's gradient instead of its own, and after 3
    AdamW steps, where noise of either sign moves it by up to about lr per
    step, it only has to stay within 3 lr of the reference."""
    return name.endswith("self_attn.k_proj.bias") and name.startswith("vision_tower")

DT = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, h in header.items():
        b, e = h["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=DT[h["dtype"]]).reshape(h["shape"]).copy()
    return out, meta


class Config:
    def __init__(self, meta):
        for k, v in meta.items():
            if k.startswith("llava."):
                setattr(self, k[6:], float(v) if k == "llava.init_std" else int(v))
        self.P = (self.image_size // self.patch_size) ** 2


CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
VP = "vision_tower.vision_model"
LP = "language_model.model"


def gelu(x):
    return F.gelu(x, approximate="tanh")


def mha(q, k, v, nh, causal):
    """q, k, v (B, T, C) -> (B, T, C); scaled dot product, softmax over keys."""
    B, T, C = q.shape
    hs = C // nh
    q, k, v = (x.view(B, T, nh, hs).transpose(1, 2) for x in (q, k, v))
    att = q @ k.transpose(-1, -2) / math.sqrt(hs)
    if causal:
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf"))
    y = att.softmax(-1) @ v
    return y.transpose(1, 2).reshape(B, T, C)


def rope(x, nh, dtype):
    """HF rotate_half RoPE on (B, L, C), positions 0..L-1, theta 10000."""
    B, L, C = x.shape
    hs = C // nh
    inv = 1.0 / (10000.0 ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs))
    ang = torch.arange(L, dtype=torch.float64)[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)
    cos, sin = emb.cos().to(dtype), emb.sin().to(dtype)
    x = x.view(B, L, nh, hs).transpose(1, 2)
    x1, x2 = x[..., : hs // 2], x[..., hs // 2:]
    rot = torch.cat([-x2, x1], -1)
    y = x * cos + rot * sin
    return y.transpose(1, 2).reshape(B, L, C)


def rmsnorm(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def forward(cfg, p, images, tokens):
    """logits (B, L, V) and the image positions k per row."""
    dtype = p["language_model.lm_head.weight"].dtype
    B, T = tokens.shape
    mean = torch.tensor(CLIP_MEAN + [0.5] * (cfg.channels - 3), dtype=dtype)[: cfg.channels]
    std = torch.tensor(CLIP_STD + [0.5] * (cfg.channels - 3), dtype=dtype)[: cfg.channels]
    x = ((images - mean) / std).permute(0, 3, 1, 2)  # NCHW
    x = F.conv2d(x, p[f"{VP}.embeddings.patch_embedding.weight"], stride=cfg.patch_size)
    x = x.flatten(2).transpose(1, 2) + p[f"{VP}.embeddings.position_embedding.weight"]
    x = F.layer_norm(x, (cfg.v_width,), p[f"{VP}.pre_layrnorm.weight"], p[f"{VP}.pre_layrnorm.bias"], 1e-5)
    hidden = [x]
    for i in range(cfg.v_layers):
        pre = f"{VP}.encoder.layers.{i}."
        h = F.layer_norm(x, (cfg.v_width,), p[pre + "layer_norm1.weight"], p[pre + "layer_norm1.bias"], 1e-5)
        q, k, v = (F.linear(h, p[pre + f"self_attn.{n}_proj.weight"], p[pre + f"self_attn.{n}_proj.bias"])
                   for n in "qkv")
        x = x + F.linear(mha(q, k, v, cfg.v_heads, False), p[pre + "self_attn.out_proj.weight"],
                         p[pre + "self_attn.out_proj.bias"])
        h = F.layer_norm(x, (cfg.v_width,), p[pre + "layer_norm2.weight"], p[pre + "layer_norm2.bias"], 1e-5)
        h = gelu(F.linear(h, p[pre + "mlp.fc1.weight"], p[pre + "mlp.fc1.bias"]))
        x = x + F.linear(h, p[pre + "mlp.fc2.weight"], p[pre + "mlp.fc2.bias"])
        hidden.append(x)
    feat = hidden[cfg.feature_layer]
    feat = gelu(F.linear(feat, p["multi_modal_projector.linear_1.weight"], p["multi_modal_projector.linear_1.bias"]))
    feat = F.linear(feat, p["multi_modal_projector.linear_2.weight"], p["multi_modal_projector.linear_2.bias"])

    emb = p[f"{LP}.embed_tokens.weight"]
    rows, ks = [], []
    for b in range(B):
        ids = tokens[b].tolist()
        assert ids.count(cfg.image_token) == 1, f"row {b}: not exactly one image token"
        k = ids.index(cfg.image_token)
        ks.append(k)
        t = torch.tensor(ids, dtype=torch.long)
        rows.append(torch.cat([emb[t[:k]], feat[b], emb[t[k + 1:]]], 0))
    x = torch.stack(rows)
    for i in range(cfg.layers):
        pre = f"{LP}.layers.{i}."
        h = rmsnorm(x, p[pre + "input_layernorm.weight"])
        q, k, v = (F.linear(h, p[pre + f"self_attn.{n}_proj.weight"]) for n in "qkv")
        q, k = rope(q, cfg.heads, dtype), rope(k, cfg.heads, dtype)
        x = x + F.linear(mha(q, k, v, cfg.heads, True), p[pre + "self_attn.o_proj.weight"])
        h = rmsnorm(x, p[pre + "post_attention_layernorm.weight"])
        h = F.silu(F.linear(h, p[pre + "mlp.gate_proj.weight"])) * F.linear(h, p[pre + "mlp.up_proj.weight"])
        x = x + F.linear(h, p[pre + "mlp.down_proj.weight"])
    x = rmsnorm(x, p[f"{LP}.norm.weight"])
    return F.linear(x, p["language_model.lm_head.weight"]), ks


def token_nll(cfg, logits, ks, targets, weights):
    """Per text position (B, T): NLL of targets[b, t] at the LM position of
    that prediction (the image token's moves to the last image position),
    0 where the weight is 0; and the weights."""
    B, T = targets.shape
    P = cfg.P
    logp = logits.log_softmax(-1)
    nll = torch.zeros(B, T, dtype=logits.dtype)
    rows = []
    for b in range(B):
        k = ks[b]
        row = []
        for t in range(T):
            if weights[b, t] > 0:
                pos = t if t < k else t + P - 1
                row.append(-logp[b, pos, int(targets[b, t])])
            else:
                row.append(torch.zeros((), dtype=logits.dtype))
        rows.append(torch.stack(row))
    nll = torch.stack(rows)
    return nll


def sft_loss(cfg, logits, ks, targets, weights):
    nll = token_nll(cfg, logits, ks, targets, weights)
    w = weights.to(logits.dtype)
    ws = w.sum(1)
    per = torch.where(ws > 0, (w * nll).sum(1) / ws.clamp_min(1e-30), torch.zeros_like(ws))
    return per.mean()


def dpo_loss(cfg, meta, logits, ks, targets, weights, r):
    """Rows [chosen | text | noise] of npair each."""
    nll = token_nll(cfg, logits, ks, targets, weights)
    w = weights.to(logits.dtype)
    s = -(w * nll).sum(1)
    n = s.shape[0] // 3
    beta, wt, wi, sw = (float(meta[k]) for k in ("dpo.beta", "dpo.w_text", "dpo.w_image", "dpo.sft_w"))
    r = torch.as_tensor(r, dtype=logits.dtype)
    rew = beta * (s - r)
    z_t = rew[:n] - rew[n:2 * n]
    z_i = rew[:n] - rew[2 * n:]
    l_t = -F.logsigmoid(z_t).mean()
    l_i = -F.logsigmoid(z_i).mean()
    ntok = (weights[:n] > 0).sum(1).to(logits.dtype)
    loss = (wt * l_t + wi * l_i) / (wt + wi) + sw * (-s[:n] / ntok).mean()
    return loss, s, l_t, l_i


def make_params(params, dtype):
    return {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in params.items()}


def grads_of(p):
    return {k: (v.grad.detach().clone() if v.grad is not None else torch.zeros_like(v)) for k, v in p.items()}


def run_twin(cfg, meta, params, batch, dtype):
    out = {}
    images = torch.tensor(batch["images"], dtype=dtype)
    tokens, targets, weights = (torch.tensor(batch[k]) for k in ("tokens", "targets", "weights"))
    p = make_params(params, dtype)
    logits, ks = forward(cfg, p, images, tokens)
    loss = sft_loss(cfg, logits, ks, targets, weights)
    loss.backward()
    out["logits"], out["loss"], out["grads"] = logits.detach(), loss.detach(), grads_of(p)

    # 3 AdamW steps on the same batch
    p = make_params(params, dtype)
    opt = torch.optim.AdamW(list(p.values()), lr=float(meta["adam.lr"]),
                            betas=(float(meta["adam.beta1"]), float(meta["adam.beta2"])),
                            eps=float(meta["adam.eps"]), weight_decay=float(meta["adam.weight_decay"]))
    for _ in range(3):
        opt.zero_grad(set_to_none=False)
        logits, ks = forward(cfg, p, images, tokens)
        sft_loss(cfg, logits, ks, targets, weights).backward()
        for v in p.values():
            if v.grad is None:  # never used (vision blocks above feature_layer)
                v.grad = torch.zeros_like(v)
        opt.step()
    out["after3"] = {k: v.detach().clone() for k, v in p.items()}

    # DPO
    p = make_params(params, dtype)
    images = torch.tensor(batch["dpo_images"], dtype=dtype)
    tokens, targets, weights = (torch.tensor(batch["dpo_" + k]) for k in ("tokens", "targets", "weights"))
    logits, ks = forward(cfg, p, images, tokens)
    loss, s, l_t, l_i = dpo_loss(cfg, meta, logits, ks, targets, weights, batch["dpo_r"])
    loss.backward()
    out["dpo_loss"], out["dpo_s"] = loss.detach(), s.detach()
    out["dpo_terms"] = torch.stack([l_t, l_i]).detach()
    out["dpo_grads"] = grads_of(p)
    return out


class Checker:
    def __init__(self, verbose):
        self.failures = []
        self.worst = {}
        self.verbose = verbose

    def check(self, kind, name, c, t32, t64, scale=None, tol=None):
        c = np.asarray(c, dtype=np.float64)
        t32 = np.asarray(t32, dtype=np.float64)
        t64 = np.asarray(t64, dtype=np.float64)
        if c.shape != t64.shape:
            self.failures.append(f"{name}: shape {c.shape} in C, {t64.shape} in the twin")
            return
        scale = max(float(np.abs(t64).max()), scale or 0.0, 1e-30)
        tol = TOL[kind] if tol is None else tol
        ec = float(np.abs(c - t64).max()) / scale
        e32 = float(np.abs(t32 - t64).max()) / scale
        w = self.worst.setdefault(kind if tol == TOL[kind] else kind + "*", [0.0, 0.0, "", tol])
        if ec >= w[0]:
            w[0], w[2] = ec, name
        w[1] = max(w[1], e32)
        bad = not (ec <= tol)
        if bad or self.verbose:
            print(f"  {'FAIL' if bad else 'ok  '} {name}: C {ec:.2e}, torch f32 {e32:.2e} "
                  f"(scale {scale:.3g}, tol {tol:.0e})")
        if bad:
            self.failures.append(f"{name}: C differs from PyTorch float64 by {ec:.3e} of max |x| "
                                 f"{scale:.3g} (tolerance {tol:.0e}; torch float32 {e32:.2e})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", help="twin_dump executable to run first")
    ap.add_argument("--dir", required=True)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.dump:
        os.makedirs(a.dir, exist_ok=True)
        subprocess.run([a.dump, a.dir], check=True)
    params, meta = read_safetensors(os.path.join(a.dir, "model.safetensors"))
    batch, bmeta = read_safetensors(os.path.join(a.dir, "batch.safetensors"))
    cout, _ = read_safetensors(os.path.join(a.dir, "out.safetensors"))
    cgrads, _ = read_safetensors(os.path.join(a.dir, "grads.safetensors"))
    cafter, _ = read_safetensors(os.path.join(a.dir, "params_after3.safetensors"))
    cdpo, _ = read_safetensors(os.path.join(a.dir, "dpo_grads.safetensors"))
    cfg = Config(meta)
    print(f"torch {torch.__version__}; model of {sum(v.size for v in params.values())} parameters "
          f"in {len(params)} tensors; SFT batch {batch['tokens'].shape}, DPO batch {batch['dpo_tokens'].shape}")

    r32 = run_twin(cfg, bmeta, params, batch, torch.float32)
    r64 = run_twin(cfg, bmeta, params, batch, torch.float64)
    ck = Checker(a.verbose)

    ck.check("logits", "logits", cout["logits"], r32["logits"], r64["logits"])
    ck.check("loss", "loss", cout["loss"][0], r32["loss"], r64["loss"])
    names = sorted(params)
    def qscale(grads, n):
        return float(np.abs(grads[n.replace("k_proj", "q_proj")]).max()) if zero_in_exact(n) else None

    lr = float(bmeta["adam.lr"])
    for n in names:
        ck.check("grad", "grad " + n, cgrads[n], r32["grads"][n], r64["grads"][n],
                 scale=qscale(r64["grads"], n))
    for n in names:
        if zero_in_exact(n):
            ck.check("after3", "after 3 AdamW steps " + n, cafter[n], r32["after3"][n], r64["after3"][n],
                     scale=1.0, tol=3 * lr)
        else:
            ck.check("after3", "after 3 AdamW steps " + n, cafter[n], r32["after3"][n], r64["after3"][n])
    ck.check("dpo", "dpo s", cout["dpo_s"], r32["dpo_s"], r64["dpo_s"])
    ck.check("dpo", "dpo loss", cout["dpo_loss"][0], r32["dpo_loss"], r64["dpo_loss"])
    ck.check("dpo", "dpo loss_text, loss_image", cout["dpo_stats"][1:3], r32["dpo_terms"], r64["dpo_terms"])
    for n in names:
        ck.check("dpo_grad", "dpo grad " + n, cdpo[n], r32["dpo_grads"][n], r64["dpo_grads"][n],
                 scale=qscale(r64["dpo_grads"], n))

    # Sanity of the comparison itself: the gradients are not all zero, the
    # blocks above feature_layer get none, and the steps moved parameters.
    nr = cfg.v_layers + 1 + cfg.feature_layer if cfg.feature_layer < 0 else cfg.feature_layer
    for n in names:
        unused = n.startswith(f"{VP}.encoder.layers.") and int(n.split(".")[4]) >= nr
        g = np.abs(cgrads[n]).max()
        if unused and g != 0:
            ck.failures.append(f"grad {n}: block above feature_layer has gradient {g:.3g}")
        if not unused and not zero_in_exact(n) and g == 0:
            ck.failures.append(f"grad {n}: all zero in C")
        if not np.any(cafter[n] != params[n]):
            ck.failures.append(f"after 3 AdamW steps {n}: unchanged")

    print(f"loss: C {float(cout['loss'][0]):.8f}, torch f32 {float(r32['loss']):.8f}, "
          f"f64 {float(r64['loss']):.8f}")
    print(f"dpo loss: C {float(cout['dpo_loss'][0]):.10f}, torch f32 {float(r32['dpo_loss']):.10f}, "
          f"f64 {float(r64['dpo_loss']):.10f}")
    print("worst relative error (max |x - ref64| / max |ref64|) per check:")
    for kind, (ec, e32, name, tol) in ck.worst.items():
        print(f"  {kind:9s} C {ec:.2e} (tol {tol:.0e}), torch f32 {e32:.2e}   worst: {name}")
    print("  (* the vision key biases, whose exact gradient is 0: see zero_in_exact)")
    if ck.failures:
        print(f"\n{len(ck.failures)} FAILED:")
        for f in ck.failures:
            print("  " + f)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
