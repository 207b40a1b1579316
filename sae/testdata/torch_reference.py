#!/usr/bin/python3
"""Training-step speed of the reference SAE algorithms in PyTorch, for the side-by-side
comparison with neuronscope's sae package (BenchmarkTrainStep* in sae/bench_test.go).

Not a test dependency: run by hand (see sae/testdata/bench_compare.sh), on the same activation
file, batch size, widths and thread count as the Go benchmark. Architectures:

  topk        OpenAI's TopK algorithm (sparse_autoencoder/train.py) on the CPU: the sparse
              encoder backward and sparse decoder of its Triton kernels expressed with
              torch.sparse.mm and F.embedding_bag, AuxK, decoder renormalisation + gradient
              projection, Adam(eps=6.25e-10)
  topk-dense  the same objective with dense latents and autograd (as SAELens computes TopK)
  relu        SAELens StandardTrainingSAE step (L1 weighted by decoder norms, clip 1, Adam)
  jumprelu    SAELens JumpReLUTrainingSAE step (rectangle-kernel STEs, L0, clip 1, Adam)

Prints one JSON line: {"arch", "steps_per_second", ...}.
"""
import argparse
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_rows(path, tensor):
    """Rows of an [n, d] tensor, or of a trace file's [batch, pos, d] tensor at real tokens."""
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        base = 8 + hlen

        def load(name):
            e = header[name]
            a, b = e["data_offsets"]
            f.seek(base + a)
            dt = {"F32": np.float32, "I64": np.int64}[e["dtype"]]
            return np.frombuffer(f.read(b - a), dtype=dt).reshape(e["shape"])

        names = [k for k in header if k != "__metadata__" and header[k]["dtype"] == "F32" and k != "logits"]
        name = tensor or (names[0] if len(names) == 1 else sys.exit(f"name one of {names} with --tensor"))
        x = load(name)
        if x.ndim == 3:
            mask = load("attention_mask").reshape(-1).astype(bool)
            x = x.reshape(-1, x.shape[-1])[mask]
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


class TopKEncode(torch.autograd.Function):
    """Encoder of the OpenAI algorithm: top-k of (x − b_pre)·Wᵀ + b, and top-auxk among dead
    latents; the backward touches only the kept latents (torch.sparse.mm)."""

    @staticmethod
    def forward(ctx, x, pre_bias, weight, latent_bias, k, auxk, dead):
        xc = x - pre_bias
        pre = F.linear(xc, weight, latent_bias)
        vals, inds = torch.topk(pre, k, dim=-1)
        if auxk > 0:
            masked = pre * dead
            avals, ainds = torch.topk(masked, auxk, dim=-1)
        else:
            avals = ainds = None
        ctx.save_for_backward(xc, weight, inds, ainds)
        ctx.n_dirs = weight.shape[0]
        return inds, vals, ainds, avals

    @staticmethod
    def backward(ctx, _gi, gvals, _ga, gavals):
        xc, weight, inds, ainds = ctx.saved_tensors
        n = xc.shape[0]
        if ainds is not None:
            all_i = torch.cat([inds, ainds], dim=-1)
            all_g = torch.cat([gvals, gavals], dim=-1)
        else:
            all_i, all_g = inds, gvals
        rows = torch.arange(n).repeat_interleave(all_i.shape[1])
        coo = torch.sparse_coo_tensor(torch.stack([all_i.reshape(-1), rows]), all_g.reshape(-1), (ctx.n_dirs, n))
        grad_w = torch.sparse.mm(coo, xc)
        grad_b = torch.zeros(ctx.n_dirs).scatter_add_(0, all_i.reshape(-1), all_g.reshape(-1))
        return None, -(grad_b @ weight), grad_w, grad_b, None, None, None


class TopKSAE(torch.nn.Module):
    def __init__(self, d, m, k, auxk, dead_steps, sparse):
        super().__init__()
        self.k, self.auxk, self.dead_steps, self.sparse = k, auxk, dead_steps, sparse
        enc = torch.nn.Linear(d, m, bias=False)
        self.encoder = enc.weight  # [m, d]
        self.decoder = torch.nn.Parameter(enc.weight.detach().clone())  # rows = latents, [m, d]
        with torch.no_grad():
            self.decoder /= self.decoder.norm(dim=1, keepdim=True)
        self.pre_bias = torch.nn.Parameter(torch.zeros(d))
        self.latent_bias = torch.nn.Parameter(torch.zeros(m))
        self.register_buffer("since", torch.ones(m, dtype=torch.long))

    def decode(self, inds, vals):
        if self.sparse:
            return F.embedding_bag(inds, self.decoder, per_sample_weights=vals, mode="sum") + self.pre_bias
        z = torch.zeros(inds.shape[0], self.decoder.shape[0]).scatter(-1, inds, vals)
        return z @ self.decoder + self.pre_bias

    def loss(self, x, mse_scale, auxk_coef):
        dead = (self.since > self.dead_steps).float()
        if self.sparse:
            inds, vals, ainds, avals = TopKEncode.apply(x, self.pre_bias, self.encoder, self.latent_bias, self.k, self.auxk, dead)
        else:
            pre = F.linear(x - self.pre_bias, self.encoder, self.latent_bias)
            vals, inds = torch.topk(pre, self.k, dim=-1)
            avals, ainds = torch.topk(pre * dead, self.auxk, dim=-1) if self.auxk else (None, None)
        with torch.no_grad():
            fired = torch.zeros_like(self.since).scatter_add_(0, inds.reshape(-1), (vals > 1e-3).long().reshape(-1))
            self.since *= 1 - fired.clamp(max=1)
            self.since += 1
        vals = torch.relu(vals)
        recon = self.decode(inds, vals)
        loss = mse_scale * ((recon - x) ** 2).mean()
        if self.auxk:
            target = x - recon.detach() + self.pre_bias.detach()
            arecon = self.decode(ainds, torch.relu(avals))
            den = ((target - target.mean(0)) ** 2).mean()
            loss = loss + auxk_coef * (((arecon - target) ** 2).mean() / den).nan_to_num(0)
        return loss

    def after_backward(self):
        with torch.no_grad():
            self.decoder /= self.decoder.norm(dim=1, keepdim=True)
            g = self.decoder.grad
            g -= (g * self.decoder).sum(dim=1, keepdim=True) * self.decoder


class Rect(torch.autograd.Function):
    """JumpReLU and Step with SAELens's rectangle-kernel straight-through estimators."""

    @staticmethod
    def forward(ctx, x, th, eps, step):
        ctx.save_for_backward(x, th)
        ctx.eps, ctx.step = eps, step
        return (x > th).to(x) if step else x * (x > th)

    @staticmethod
    def backward(ctx, g):
        x, th = ctx.saved_tensors
        k = (((x - th) / ctx.eps).abs() < 0.5).to(x)
        if ctx.step:
            return None, (-(1.0 / ctx.eps) * k * g).sum(0), None, None
        return (x > th) * g, (-(th / ctx.eps) * k * g).sum(0), None, None


class SAELensSAE(torch.nn.Module):
    def __init__(self, d, m, arch, apply_b_dec):
        super().__init__()
        w = torch.empty(m, d)
        torch.nn.init.kaiming_uniform_(w)
        w = w / w.norm(dim=1, keepdim=True) * 0.1
        self.W_dec = torch.nn.Parameter(w)
        self.W_enc = torch.nn.Parameter(w.T.clone().contiguous())
        self.b_enc = torch.nn.Parameter(torch.zeros(m))
        self.b_dec = torch.nn.Parameter(torch.zeros(d))
        self.arch, self.apply_b_dec = arch, apply_b_dec
        if arch == "jumprelu":
            self.log_threshold = torch.nn.Parameter(torch.full((m,), float(np.log(0.01))))

    def loss(self, x, coef, eps=0.05):
        xin = x - self.b_dec if self.apply_b_dec else x
        pre = xin @ self.W_enc + self.b_enc
        if self.arch == "jumprelu":
            th = torch.exp(self.log_threshold)
            z = Rect.apply(pre, th, eps, False)
            sparsity = coef * Rect.apply(pre, th, eps, True).sum(-1).mean()
        else:
            z = torch.relu(pre)
            sparsity = coef * (z * self.W_dec.norm(dim=1)).norm(p=1, dim=-1).mean()
        recon = z @ self.W_dec + self.b_dec
        return ((recon - x) ** 2).sum(-1).mean() + sparsity

    def after_backward(self):
        torch.nn.utils.clip_grad_norm_(self.parameters(), 1.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--acts", required=True)
    ap.add_argument("--tensor", default="")
    ap.add_argument("--arch", default="topk", choices=["topk", "topk-dense", "relu", "jumprelu"])
    ap.add_argument("--d-sae", type=int, default=2048)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--auxk", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x = read_rows(a.acts, a.tensor)
    n, d = x.shape
    sample = x[: min(n, 4096)]
    if a.arch.startswith("topk"):
        # dead after 50 batches, as in the Go benchmark
        sae = TopKSAE(d, a.d_sae, a.k, min(a.auxk, a.d_sae), 50, sparse=a.arch == "topk")
        with torch.no_grad():
            sae.pre_bias.copy_(sample.median(0).values)  # the geometric median is init-only, not timed
        mse_scale = 1 / ((sample - sample.mean(0)) ** 2).mean().item()
        opt = torch.optim.Adam(sae.parameters(), lr=1e-4, eps=6.25e-10)
        loss_fn = lambda xb: sae.loss(xb, mse_scale, 1 / 32)
    else:
        sae = SAELensSAE(d, a.d_sae, a.arch, apply_b_dec=a.arch == "jumprelu")
        scale = d ** 0.5 / sample.norm(dim=1).mean().item()
        x = x * scale
        opt = torch.optim.Adam(sae.parameters(), lr=3e-3 if a.arch == "jumprelu" else 5e-5)
        coef = 1.0 if a.arch == "jumprelu" else 5.0
        loss_fn = lambda xb: sae.loss(xb, coef)
    gen = torch.Generator().manual_seed(a.seed)
    perm = torch.randperm(n, generator=gen)
    pos = 0

    def step():
        nonlocal pos, perm
        if pos + a.batch > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        xb = x[perm[pos : pos + a.batch]]
        pos += a.batch
        loss = loss_fn(xb)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        sae.after_backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        last = step()
    el = time.perf_counter() - t
    print(json.dumps({"arch": a.arch, "steps_per_second": a.steps / el, "steps": a.steps, "batch": a.batch,
                      "d_in": d, "d_sae": a.d_sae, "k": a.k, "threads": a.threads, "rows": n, "last_loss": last,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
