#!/usr/bin/env python3
"""sklearn's per-neuron cost of average precision on BenchmarkAveragePrecisionsLlama7B's matrix.

Generates the same synthetic responses as bench_test.go (splitmix64 in numpy uint64) for
--neurons neurons (default 3000) of the 835,584 × 1,500 problem, times
sklearn.metrics.average_precision_score per neuron (as apple/ml-selfcond's expertise.py calls
it, one neuron's [examples] float32 vector at a time; generation is not timed), extrapolates
to all 835,584 neurons, and prints the AP of a few neurons for a bit-for-bit comparison with
the Go benchmark's log line. Run side by side with the Go benchmark:

  /usr/bin/python3 probes/expertise/testdata/bench_sklearn_ap.py --neurons 3000
  go test -run XXX -bench AveragePrecisionsLlama7B -benchtime=1x ./probes/expertise/
"""
import argparse
import time

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score

EXAMPLES, NEURONS, POSITIVES = 1500, 835584, 300


def splitmix64(x):
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def column(j):
    e = np.arange(EXAMPLES, dtype=np.uint64)
    h = splitmix64(np.uint64(j) * np.uint64(EXAMPLES) + e)
    v = (h >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
    if j % 10 == 0:
        v = np.floor(v * np.float32(16)).astype(np.float32) / np.float32(16)
    v[:POSITIVES] += np.float32(j % 5) * np.float32(0.125)
    return v.astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--neurons", type=int, default=3000)
    args = ap.parse_args()
    y = np.zeros(EXAMPLES, dtype=int)
    y[:POSITIVES] = 1
    cols = [column(j) for j in range(args.neurons)]
    out = np.empty(args.neurons)
    t0 = time.perf_counter()
    for j, c in enumerate(cols):
        out[j] = average_precision_score(y_true=y, y_score=c)
    dt = time.perf_counter() - t0
    per = dt / args.neurons
    print(f"sklearn {sklearn.__version__}, numpy {np.__version__}: {args.neurons} neurons × {EXAMPLES} examples in {dt:.3f} s")
    print(f"per neuron {per * 1e6:.1f} µs; extrapolated to {NEURONS} neurons: {per * NEURONS:.1f} s (one process)")
    spots = [j for j in (0, 1, 7, 777, 1999) if j < args.neurons]
    print("AP of neurons", " ".join(map(str, spots)) + ":", " ".join(f"{out[j]:.17g}" for j in spots))


if __name__ == "__main__":
    main()
