#!/usr/bin/env python3
"""Record which indices torch.topk(x, k, largest=False) returns on CPU for inputs full of ties.

Writes topk_reference.json for TestTopKMatchesTorch. Values are digits of a string, 9 standing for
+inf, so that ties at the cut-off are the rule; sizes cover both branches of PyTorch's CPU
kernel (std::partial_sort when k*64 <= n, std::nth_element otherwise) and introselect's
insertion-sort tail (ranges of <= 3). Run with /usr/bin/python3 (Debian's torch).
"""
import json

import numpy as np
import torch

rng = np.random.default_rng(14)
cases = []
for n in [1, 2, 3, 4, 5, 7, 10, 17, 63, 64, 65, 100, 128, 129, 640, 641, 1000, 3000]:
    ks = sorted({1, 2, 3, n // 2, n - 1, n, max(1, n // 64), n // 64 + 1} & set(range(1, n + 1)))
    if n == 3000:
        ks = [2, 46, 47, 1500]  # 46*64 <= 3000 < 47*64
    for k in ks:
        for levels in [1, 3, 10]:
            v = rng.integers(0, levels, size=n)
            if levels > 1:
                v[rng.random(n) < 0.2] = 9
            x = torch.tensor(v, dtype=torch.float32)
            x[x == 9] = float("inf")
            _, idx = x.topk(k, largest=False)
            cases.append({"k": k, "values": "".join(map(str, v.tolist())), "indices": sorted(idx.tolist())})
json.dump({"torch": torch.__version__, "cases": cases}, open("topk_reference.json", "w"), separators=(",", ":"))
print(len(cases), "cases")
