#!/usr/bin/env python3
"""Reference selections of the published LAPE and alignment procedures on small random inputs.

Writes language_reference.json for TestPublishedReference. Each case is a probability tensor
[groups, layers, width] (float32) whose neurons (pick) are drawn from a small pool of random vectors,
with all-zero neurons and exact duplicates, so that scores tie exactly at the cut-off (in both
float32 and float64); the selections are computed the way the published scripts compute them
(re-implemented here in torch, float32, with torch.topk/kthvalue):

  LAPE       RUCAIBox/Language-Specific-Neurons identify.py (vectorised float32 entropy)
  alignment  NJUNLP/Language-Neurons-Alignment identify.py + analysis.py (per-neuron float32
             entropy, double arithmetic, score stored in a float32 tensor)

Run with /usr/bin/python3 (Debian's torch).
"""
import json
import math

import numpy as np
import torch

rng = np.random.default_rng(2024)


def lape(act, top_rate, filter_rate, bar):  # act [L, H, G] float32
    normed = act / act.sum(dim=-1, keepdim=True)
    normed[torch.isnan(normed)] = 0
    logp = torch.where(normed > 0, normed.log(), 0)
    ent = -torch.sum(normed * logp, dim=-1)
    flat = act.flatten()
    tf = flat.kthvalue(round(len(flat) * filter_rate)).values.item()
    ent[(act > tf).sum(dim=-1) == 0] = torch.inf
    k = round(ent.numel() * top_rate)
    _, idx = ent.flatten().topk(k, largest=False)
    tb = flat.kthvalue(round(len(flat) * bar)).values.item()
    return idx, tb


def alignment(act, top_rate, lam, bar):
    L, H, K = act.shape
    norm_max = sum(1 / k for k in range(1, K + 1)) / K
    ent = torch.zeros((L, H))
    for l in range(L):
        for n in range(H):
            vec = act[l, n, :]
            s = vec.sum()
            p = torch.full_like(vec, 1.0 / vec.numel()) if s <= 0 else vec / s
            q = p.clamp_min(1e-12)
            q = q / q.sum()
            e = float(-(q * (q + 1e-30).log()).sum().item()) / np.log(K)
            ent[l, n] = e - vec.max().item() * float(lam) / norm_max
    k = round(ent.numel() * float(top_rate))
    _, idx = ent.flatten().topk(k, largest=False)
    tb = act.flatten().kthvalue(round(act.numel() * bar)).values.item()
    return idx, tb


cases = []
shapes = [(2, 1, 8), (3, 2, 40), (4, 3, 64), (7, 2, 96), (10, 2, 128), (5, 4, 160)]
for ci, (G, L, W) in enumerate(shapes):
    for variant in range(3):
        pool = rng.random((6, G)).astype(np.float32)
        pool[0] = 0  # all-zero neuron
        pool[1, 1:] = 0  # one language only
        pool[2] = pool[2] ** 4  # mostly small: often filtered
        pick = rng.integers(0, len(pool), size=L * W)
        act = torch.tensor(pool[pick].reshape(L, W, G))  # [L, H, G]
        lam = [0.0, 0.05, 0.2][variant]
        runs = []
        for top_rate in [0.01, 0.05, 0.2]:
            for rate in [0.5, 0.95]:
                li, lt = lape(act, top_rate, rate, rate)
                ai, at = alignment(act, top_rate, lam, rate)
                runs.append({"top_rate": top_rate, "rate": rate,
                             "lape_selected": sorted(li.tolist()), "lape_bar": lt,
                             "alignment_selected": sorted(ai.tolist()), "alignment_bar": at})
        # neuron (l, w) has probabilities pool[pick[l*W + w]] over the groups
        cases.append({"groups": G, "layers": L, "width": W, "pool": pool.tolist(), "pick": pick.tolist(),
                      "lambda": lam, "runs": runs})
json.dump({"torch": torch.__version__, "cases": cases}, open("language_reference.json", "w"), separators=(",", ":"))
print(len(cases), "cases")
