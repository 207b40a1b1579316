#!/usr/bin/env python3
"""Reference values of sklearn's average_precision_score for TestAveragePrecisionMatchesSklearn.

Writes ap_reference.json: random labellings and float32 scores (score = k * 2**-scale, k an
integer, so that every score is an exact float32 and the file stays small), with heavy ties in
some cases, a few all-positive and single-positive cases, and negative/zero scores. The AP is
stored as the exact float64 repr; the Go test expects bit-for-bit equality.
Run with /usr/bin/python3 (Debian's python3-sklearn).
"""
import json

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score

rng = np.random.default_rng(4)
cases = []
for n in [1, 2, 3, 5, 8, 9, 16, 100, 127, 128, 129, 255, 256, 300, 1000, 1500, 2500]:
    for kind in ["distinct", "ties", "coarse"]:
        span = {"distinct": 1 << 22, "ties": 64, "coarse": 4}[kind]
        k = rng.integers(-span, span, size=n)
        scale = int(rng.integers(0, 20))
        y = rng.random(n) < rng.choice([0.05, 0.2, 0.5, 0.9])
        if n >= 2 and rng.random() < 0.2:
            y[:] = False
        if not y.any():
            y[rng.integers(0, n)] = True
        scores = (k * 2.0 ** -scale).astype(np.float32)
        ap = average_precision_score(y, scores)
        cases.append({"k": k.tolist(), "scale": scale, "labels": "".join("1" if v else "0" for v in y), "ap": float(ap)})
# all positive
cases.append({"k": [3, 1, 2], "scale": 0, "labels": "111", "ap": float(average_precision_score([1, 1, 1], np.float32([3, 1, 2])))})
json.dump({"sklearn": sklearn.__version__, "numpy": np.__version__, "cases": cases}, open("ap_reference.json", "w"), separators=(",", ":"))
print(len(cases), "cases")
