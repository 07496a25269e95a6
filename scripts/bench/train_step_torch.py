#!/usr/bin/env python3
"""PyTorch side of scripts/bench/train-step: the same shapes as NMTBench train-step (pre-norm
Transformer, shared embeddings, V = 8000, three trainer-style batches of ≈4,096 target tokens
with sentences of 15, 25 and 35 tokens), forward + backward, each batch's best of 3; with a third
argument `bf16`, the forward pass (and so the backward's matrix products) under
torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's mixed precision on CPUs (oneDNN).
Prints: RESULT <preset> <threads> <ms/batch> <target tokens/s> <peak RSS MB>, then
PRODUCTS <preset> <threads> <linear layers' products ms/batch> <attention's bmm ms/batch> (bf16 only, profiled)"""
import math, random, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

preset, threads = sys.argv[1], int(sys.argv[2])
bf16 = len(sys.argv) > 3 and sys.argv[3] == "bf16"
torch.set_num_threads(threads)
C, FF, H, L = {"tiny": (256, 1024, 4, 3), "base": (512, 2048, 8, 6)}[preset]
V = 8000
random.seed(2)

def make_batch(length):
    """4096 // (length + 1) random pairs of `length` tokens: one trainer-style batch (one length)."""
    pairs = [([random.randint(4, V - 1) for _ in range(length)], [random.randint(4, V - 1) for _ in range(length)])
             for _ in range(4096 // (length + 1))]
    B, S, T = len(pairs), length + 1, length + 1
    src = torch.zeros(B, S, dtype=torch.long); tin = torch.zeros(B, T, dtype=torch.long); tout = torch.zeros(B, T, dtype=torch.long)
    for b, (s, t) in enumerate(pairs):
        src[b, :len(s)] = torch.tensor(s); src[b, len(s)] = 3
        tin[b, 0] = 2; tin[b, 1:len(t) + 1] = torch.tensor(t)
        tout[b, :len(t)] = torch.tensor(t); tout[b, len(t)] = 3
    return src, tin, tout

batches = [make_batch(n) for n in (15, 25, 35)]

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, C, padding_idx=0)
        self.core = nn.Transformer(C, H, L, L, FF, dropout=0.1, batch_first=True, norm_first=True)
        half = C // 2
        freqs = torch.exp(torch.arange(half) * -(math.log(10000) / (half - 1)))
        angles = torch.arange(1024)[:, None] * freqs[None]
        self.register_buffer("pos", torch.cat([torch.sin(angles), torch.cos(angles)], 1))
    def forward(self, src, tin):
        e = lambda ids: self.embed(ids) * math.sqrt(C) + self.pos[: ids.shape[1]]
        causal = torch.triu(torch.full((tin.shape[1], tin.shape[1]), float("-inf")), 1)
        h = self.core(e(src), e(tin), tgt_mask=causal, src_key_padding_mask=src == 0,
                      tgt_key_padding_mask=tin == 0, memory_key_padding_mask=src == 0)
        return F.linear(h, self.embed.weight)

model = Model()
model.train()
def step(src, tin, tout):
    model.zero_grad(set_to_none=False)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(src, tin)
        loss = F.cross_entropy(logits.float().reshape(-1, V), tout.reshape(-1), ignore_index=0, label_smoothing=0.1)
    loss.backward()
total, real_tgt = 0.0, 0
for src, tin, tout in batches:
    step(src, tin, tout)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter(); step(src, tin, tout); best = min(best, time.perf_counter() - t0)
    total += best
    real_tgt += int((tout != 0).sum())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"RESULT {preset} {threads} {total / len(batches) * 1000:.0f} {real_tgt / total:.0f} {peak:.0f}")
# bf16: where the time goes — one more step per batch under the profiler (after the timed ones, so
# that it cannot slow them), its self time in the linear layers' products (aten::mm, aten::addmm:
# oneDNN under autocast) and in attention's batched products (aten::bmm).
if bf16:
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for src, tin, tout in batches:
            step(src, tin, tout)
    self_ms = {e.key: e.self_cpu_time_total / 1000 for e in prof.key_averages()}
    linear = (self_ms.get("aten::mm", 0) + self_ms.get("aten::addmm", 0)) / len(batches)
    print(f"PRODUCTS {preset} {threads} {linear:.0f} {self_ms.get('aten::bmm', 0) / len(batches):.0f}")
