#!/usr/bin/env python3
"""Checks nmt's Transformer against an independent PyTorch implementation (run by hand, not in CI).

Usage: scripts/check/against-pytorch [MODEL.safetensors ...]
  (the shell wrapper makes a virtualenv with torch and builds nmt; without arguments it checks
  freshly made random models: pre-norm ReLU, post-norm ReLU, pre-norm GELU)

For each model: loads the file, builds the same network in PyTorch (float64) from its tensors —
names map 1:1 — runs nmt's fixed padded check batch, and compares the logits, the label-smoothed
loss and every parameter's gradient with what nmt computed (`NMTBench dump-step`).
"""
import json, math, subprocess, sys, os
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file
from safetensors import safe_open

torch.set_default_dtype(torch.float64)

def metadata(path):
    with safe_open(path, framework="numpy") as f:
        return f.metadata()

def sinusoidal(max_positions, dim):
    half = dim // 2
    step = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, dtype=torch.float64) * -step)
    angles = torch.arange(max_positions, dtype=torch.float64)[:, None] * freqs[None, :]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2 == 1:
        table = torch.cat([table, torch.zeros(max_positions, 1)], dim=1)
    return table

class Reference:
    """The architecture written out from the paper and fairseq's conventions, independently of nmt."""
    def __init__(self, weights, config):
        self.w = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in weights.items()}
        self.c = config
        self.pos = sinusoidal(config["maxPositions"], config["dModel"])

    def linear(self, x, name, bias=True):
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"] if bias else None)

    def norm(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.w[name + ".weight"], self.w[name + ".bias"], eps=1e-5)

    def attention(self, q_in, kv_in, name, key_padding, causal):
        B, Tq, C = q_in.shape
        Tk = kv_in.shape[1]
        H = self.c["heads"]; D = C // H
        q = self.linear(q_in, name + ".q_proj").view(B, Tq, H, D).transpose(1, 2)
        k = self.linear(kv_in, name + ".k_proj").view(B, Tk, H, D).transpose(1, 2)
        v = self.linear(kv_in, name + ".v_proj").view(B, Tk, H, D).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(D)
        mask = key_padding[:, None, None, :].expand(B, H, Tq, Tk)
        if causal:
            mask = mask | torch.triu(torch.ones(Tq, Tk, dtype=torch.bool), diagonal=1)[None, None]
        scores = scores.masked_fill(mask, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(B, Tq, C)
        return self.linear(ctx, name + ".out_proj")

    def ffn(self, x, name):
        h = self.linear(x, name + ".fc1")
        h = F.relu(h) if self.c["activation"] == "relu" else F.gelu(h)
        return self.linear(h, name + ".fc2")

    def sublayer(self, x, norm_name, fn):
        if self.c["preNorm"]:
            return x + fn(self.norm(x, norm_name))
        return self.norm(x + fn(x), norm_name)

    def embed(self, ids):
        C = self.c["dModel"]
        return F.embedding(ids, self.w["embed_tokens.weight"], padding_idx=0) * math.sqrt(C) + self.pos[: ids.shape[1]][None]

    def forward(self, src, tgt_in):
        pad_src, pad_tgt = src == 0, tgt_in == 0
        x = self.embed(src)
        for i in range(self.c["encoderLayers"]):
            p = f"encoder.layers.{i}"
            x = self.sublayer(x, p + ".self_attn_layer_norm", lambda h: self.attention(h, h, p + ".self_attn", pad_src, False))
            x = self.sublayer(x, p + ".final_layer_norm", lambda h: self.ffn(h, p))
        if self.c["preNorm"]:
            x = self.norm(x, "encoder.layer_norm")
        y = self.embed(tgt_in)
        for i in range(self.c["decoderLayers"]):
            p = f"decoder.layers.{i}"
            y = self.sublayer(y, p + ".self_attn_layer_norm", lambda h: self.attention(h, h, p + ".self_attn", pad_tgt, True))
            y = self.sublayer(y, p + ".encoder_attn_layer_norm", lambda h: self.attention(h, x, p + ".encoder_attn", pad_src, False))
            y = self.sublayer(y, p + ".final_layer_norm", lambda h: self.ffn(h, p))
        if self.c["preNorm"]:
            y = self.norm(y, "decoder.layer_norm")
        return F.linear(y, self.w["embed_tokens.weight"])

def label_smoothed_loss(logits, target, epsilon):
    """fairseq's label_smoothed_nll_loss, per non-pad token."""
    lprobs = torch.log_softmax(logits, dim=-1)
    V = lprobs.shape[-1]
    nll = -lprobs.gather(-1, target[:, None]).squeeze(-1)
    smooth = -lprobs.sum(-1)
    keep = target != 0
    eps_i = epsilon / (V - 1)
    loss = (1.0 - epsilon - eps_i) * nll + eps_i * smooth
    n = keep.sum()
    return loss[keep].sum() / n, nll[keep].sum() / n

def relative(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))

def check(model_path, dump_path):
    meta = metadata(model_path)
    config = json.loads(meta["config"])
    weights = load_file(model_path)
    dump = load_file(dump_path)
    ref = Reference(weights, config)
    src = torch.tensor(dump["batch.source"].astype(np.int64))
    tgt_in = torch.tensor(dump["batch.target_input"].astype(np.int64))
    tgt_out = torch.tensor(dump["batch.target_output"].astype(np.int64))
    logits = ref.forward(src, tgt_in).reshape(-1, config["vocabularySize"])
    loss, nll = label_smoothed_loss(logits, tgt_out.reshape(-1), 0.1)
    loss.backward()
    rows = []
    rows.append(("logits", relative(dump["logits"], logits.detach().numpy())))
    rows.append(("loss", abs(float(dump["loss_and_nll"][0]) - loss.item()) / abs(loss.item())))
    rows.append(("nll", abs(float(dump["loss_and_nll"][1]) - nll.item()) / abs(nll.item())))
    # Each gradient's error relative to its own largest element — with a floor of 1e-3 of the
    # largest gradient anywhere, because some gradients are exactly zero in exact arithmetic
    # (a key bias shifts every score of a softmax row equally), where both sides hold rounding noise.
    global_max = max(float(np.max(np.abs(w.grad.numpy()))) for w in ref.w.values())
    worst_gradient = ("", 0.0)
    for name, w in ref.w.items():
        theirs, ours = w.grad.numpy(), dump["grad." + name]
        r = float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-3 * global_max))
        if r > worst_gradient[1]:
            worst_gradient = (name, r)
    rows.append((f"gradients (worst: {worst_gradient[0]})", worst_gradient[1]))
    print(f"\n{model_path}: preNorm={config['preNorm']} activation={config['activation']} "
          f"d={config['dModel']} layers={config['encoderLayers']}+{config['decoderLayers']} V={config['vocabularySize']}")
    print("| quantity | max relative error | limit | ok |")
    print("|---|---|---|---|")
    ok = True
    for name, err in rows:
        limit = 1e-3 if name.startswith("gradients") else 1e-4
        ok &= err <= limit
        print(f"| {name} | {err:.2e} | {limit:.0e} | {'yes' if err <= limit else 'NO'} |")
    return ok

if __name__ == "__main__":
    pairs = [tuple(a.split(":")) for a in sys.argv[1:]]
    results = [check(m, d) for m, d in pairs]
    sys.exit(0 if all(results) else 1)
