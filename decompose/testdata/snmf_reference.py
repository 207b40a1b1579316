#!/usr/bin/python3
"""Reference numbers for decompose's parity test (TestParityTorch).

Runs the published semi-NMF (Shafran, Geiger & Geva 2025; factorization/seminmf.py of
ordavid-s/snmf-mlp-decomposition @ ab58c781a662, re-implemented here from the algorithm
description in neuronscope's shared docs/algorithms.md section 1) in PyTorch on a small planted
matrix, in float64 and in float32, from one G0, for ITERS iterations; and the published hierarchical
SNMF (factorization/hierchichal_snmf.py: greedy levels, then a joint Adam fine-tune) in
float64; and writes snmf_reference.json. The Go tests never run Python: regenerate with

    /usr/bin/python3 decompose/testdata/snmf_reference.py

(Debian's python3-torch; the file records the torch version used).
"""
import json
import math
import os

import torch

D_MLP, N, RANK, SPARSITY, ITERS = 40, 60, 6, 0.1, 10
TOL, REG, SEED_A, SEED_G0 = 1e-4, 1e-6, 0, 42
HIER_RANKS, FT_ITERS, FT_LR = [6, 3], 20, 1e-3


def planted(dtype):
    """A = F* G*^T + noise as [d_mlp, n], F* sparse mixed-sign, G* >= 0 (all drawn in float64)."""
    gen = torch.Generator().manual_seed(SEED_A)
    f = torch.randn(D_MLP, RANK, generator=gen, dtype=torch.float64)
    keep = torch.rand(D_MLP, RANK, generator=gen, dtype=torch.float64) < 0.2
    f = f * keep
    g = torch.rand(N, RANK, generator=gen, dtype=torch.float64) ** 3
    noise = 0.05 * torch.randn(D_MLP, N, generator=gen, dtype=torch.float64)
    return (f @ g.T + noise).to(dtype)


def fit(a, g0, iters):
    """The published loop: F step, winner-take-all, Hoyer rescale, Ding G update, loss."""
    d, n = a.shape
    k = g0.shape[1]
    keep = max(1, math.ceil(SPARSITY * d))
    g = g0.clone()
    losses, best, best_f, best_g, best_it = [], float("inf"), None, None, -1
    for it in range(iters):
        m = g.T @ g + REG * torch.eye(k, dtype=a.dtype)
        f = a @ g @ torch.linalg.inv(m)
        mag = f.abs()
        thresh = torch.topk(mag, keep, dim=0).values[-1]
        f = f * (mag >= thresh.unsqueeze(0))
        norms = g.norm(dim=0).clamp_min(1e-8)
        g = g / norms
        f = f * norms
        p = a.T @ f
        q = f.T @ f
        num = (p.abs() + p) / 2 + g @ ((q.abs() - q) / 2)
        den = (p.abs() - p) / 2 + g @ ((q.abs() + q) / 2)
        g = g * torch.sqrt(num / (den + 1e-6))
        loss = torch.norm(a - f @ g.T) ** 2
        losses.append(loss.item())
        if loss.item() < best - TOL:
            best, best_f, best_g, best_it = loss.item(), f.clone(), g.clone(), it
    return losses, best, best_it, best_f, best_g


def fit_hier(a, ranks, iters, ft_iters, lr):
    """Greedy levels (each fit on the previous level's F, A_l = F_{l-1} [d_mlp, r_{l-1}]) with
    the random init drawn from one continuing torch stream (G0 = rand(n_l, r_l), then the
    published fit's F0 = randn(d_mlp, r_l)), then the joint Adam fine-tune of
    A.T ~ G_1 G_2 ... G_L F_L^T on the MSE (parameters are copies: the levels stay as fitted)."""
    torch.manual_seed(SEED_G0)
    levels, cur = [], a
    for r in ranks:
        g0 = torch.rand(cur.shape[1], r).clamp_min(1e-6)  # float32 draws, as the published init
        torch.randn(cur.shape[0], r)  # the published F0, overwritten by the first F step
        losses, best, best_it, f, g = fit(cur, g0.to(a.dtype), iters)
        levels.append({"loss": losses, "best_loss": best, "best_iter": best_it, "f": f, "g": g})
        cur = f
    params = [lv["g"].clone().requires_grad_(True) for lv in levels]
    h = levels[-1]["f"].T.clone().requires_grad_(True)
    opt = torch.optim.Adam(params + [h], lr=lr)
    x = a.T
    ft = []
    for _ in range(ft_iters):
        opt.zero_grad()
        m = params[0]
        for p in params[1:]:
            m = m @ p
        loss = torch.nn.functional.mse_loss(m @ h, x)
        loss.backward()
        opt.step()
        ft.append(loss.item())
    out = {"levels": [{"loss": lv["loss"], "best_loss": lv["best_loss"], "best_iter": lv["best_iter"],
                       "f": rows(lv["f"]), "g": rows(lv["g"])} for lv in levels],
           "finetune_loss": ft, "joint_f": rows(h.detach().T), "joint_g": [rows(p.detach()) for p in params]}
    return out


def rows(t):
    return [float(v) for v in t.reshape(-1).tolist()]


def main():
    torch.manual_seed(SEED_G0)
    g0 = torch.rand(N, RANK).clamp_min(1e-6)  # float32, the published random init
    out = {"d_mlp": D_MLP, "n": N, "rank": RANK, "sparsity": SPARSITY, "iters": ITERS,
           "tol": TOL, "reg": REG, "g0_seed": SEED_G0, "torch": torch.__version__}
    a64 = planted(torch.float64)
    out["x"] = rows(a64.T)  # [n, d_mlp] rows, as neuronscope stores A
    out["g0"] = rows(g0)
    for name, dtype in (("float64", torch.float64), ("float32", torch.float32)):
        a = a64.to(dtype)
        losses, best, best_it, f, g = fit(a, g0.to(dtype), ITERS)
        out[name] = {"loss": losses, "best_loss": best, "best_iter": best_it,
                     "f": rows(f), "g": rows(g)}
    out["hierarchy"] = {"ranks": HIER_RANKS, "iters": ITERS, "finetune_iters": FT_ITERS, "lr": FT_LR}
    out["hierarchy"].update(fit_hier(a64, HIER_RANKS, ITERS, FT_ITERS, FT_LR))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snmf_reference.json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=None, separators=(",", ":"))
        fh.write("\n")
    print("wrote", path, "float64 losses", out["float64"]["loss"][:3], "...", out["float64"]["loss"][-1])


if __name__ == "__main__":
    main()
