#!/usr/bin/python3
"""PyTorch side of decompose's speed comparison (BenchmarkSNMFIteration is the Go side).

Times one iteration of the published semi-NMF loop (factorization/seminmf.py of
ordavid-s/snmf-mlp-decomposition @ ab58c781a662: the same tensor operations in the same order,
re-implemented here from the algorithm description) on the benchmark matrix that the Go side
builds bit for bit:

    x  = (torch.rand(n, d_mlp) * 2 - 1).clamp_min(-0.17)   after torch.manual_seed(1)
    G0 = torch.rand(n, rank).clamp_min(1e-6)                 after torch.manual_seed(42)

(A = x.T, [d_mlp, n]). Run with the thread count of the Go run, e.g.

    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 decompose/testdata/bench_snmf_torch.py --threads 2

It prints the checksums of x and G0 (the Go benchmark logs the same), then the time per
iteration (median of --iters after --warmup) and the process CPU time per iteration (all
threads; with one thread the work itself, little affected by other load on the machine).
"""
import argparse
import math
import statistics
import time

import torch


def positive(x):
    return (x.abs() + x) * 0.5


def negative(x):
    return (x.abs() - x) * 0.5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--d-mlp", type=int, default=3072)
    ap.add_argument("--rank", type=int, default=100)
    ap.add_argument("--sparsity", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    torch.manual_seed(1)
    x = (torch.rand(args.n, args.d_mlp) * 2 - 1).clamp_min(-0.17)
    torch.manual_seed(42)
    g = torch.rand(args.n, args.rank).clamp_min(1e-6)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, config: {torch.__config__.parallel_info().splitlines()[0]}")
    print(f"checksum x {x.double().sum().item():.6f}  G0 {g.double().sum().item():.6f}")

    a = x.T  # [d_mlp, n], as the published fit receives activations.T
    k = args.rank
    keep = max(1, math.ceil(args.sparsity * args.d_mlp))
    f = torch.randn(args.d_mlp, k)
    best, best_f, best_g = float("inf"), None, None
    times, cpu = [], []
    with torch.no_grad():
        for it in range(args.warmup + args.iters):
            t0, c0 = time.perf_counter(), time.process_time()
            gtg = g.T @ g
            inv = torch.linalg.inv(gtg + torch.eye(k) * 1e-6)
            f.copy_(a @ g @ inv)
            mag = f.abs()
            thresh = torch.topk(mag, keep, dim=0, sorted=True).values[-1, :]
            f.mul_(mag >= thresh.unsqueeze(0))
            norms = g.norm(dim=0, keepdim=True).clamp_min(1e-8)
            g.div_(norms)
            f.mul_(norms.squeeze(0))
            p = a.T @ f
            q = f.T @ f
            numer = positive(p) + g @ negative(q)
            denom = negative(p) + g @ positive(q)
            g.copy_(g * torch.sqrt(numer / (denom + 1e-6)))
            loss = torch.norm(a - f @ g.T, p="fro") ** 2
            lv = loss.item()
            if lv < best - 1e-4:
                best, best_f, best_g = lv, f.clone(), g.clone()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if it >= args.warmup:
                times.append(dt)
                cpu.append(dc)
    med = statistics.median(times)
    print(f"loss after {args.warmup + args.iters} iterations {lv:.6f} (best {best:.6f})")
    print(f"torch: {med * 1e3:.1f} ms/iteration (median of {len(times)}; min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f}); "
          f"process CPU {statistics.mean(cpu) * 1e3:.1f} cpu-ms/iteration (mean)")


if __name__ == "__main__":
    main()
