#!/usr/bin/env python3
"""PyTorch side of scripts/bench-train-step: the same shapes as NMTBench train-step (pre-norm
Transformer, shared embeddings, V = 8000, random pairs of 10–40 tokens up to ≈4,096 target
tokens, one padded batch sorted by length), forward + backward, best of 5.
Prints: RESULT <preset> <threads> <ms/step> <target tokens/s> <peak RSS MB>"""
import math, random, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

preset, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
C, FF, H, L = {"tiny": (256, 1024, 4, 3), "base": (512, 2048, 8, 6)}[preset]
V = 8000
random.seed(2)
pairs, tgt_tokens = [], 0
while tgt_tokens < 4096:
    n = random.randint(10, 40)
    pairs.append(([random.randint(4, V - 1) for _ in range(n)], [random.randint(4, V - 1) for _ in range(n)]))
    tgt_tokens += n + 1
pairs.sort(key=lambda p: len(p[0]))
B = len(pairs)
S = max(len(s) for s, _ in pairs) + 1
T = max(len(t) for _, t in pairs) + 1
src = torch.zeros(B, S, dtype=torch.long); tin = torch.zeros(B, T, dtype=torch.long); tout = torch.zeros(B, T, dtype=torch.long)
for b, (s, t) in enumerate(pairs):
    src[b, :len(s)] = torch.tensor(s); src[b, len(s)] = 3
    tin[b, 0] = 2; tin[b, 1:len(t) + 1] = torch.tensor(t)
    tout[b, :len(t)] = torch.tensor(t); tout[b, len(t)] = 3

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
def step():
    model.zero_grad(set_to_none=False)
    logits = model(src, tin)
    loss = F.cross_entropy(logits.reshape(-1, V), tout.reshape(-1), ignore_index=0, label_smoothing=0.1)
    loss.backward()
step()
best = float("inf")
for _ in range(5):
    t0 = time.perf_counter(); step(); best = min(best, time.perf_counter() - t0)
real_tgt = int((tout != 0).sum())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"RESULT {preset} {threads} {best * 1000:.0f} {real_tgt / best:.0f} {peak:.0f}")
