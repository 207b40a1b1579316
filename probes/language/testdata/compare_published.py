#!/usr/bin/env python3
"""Compare a `neuronscope find language` neuron set (--out) or report (--report) with a
published mask file.

For acceptance checks only. The mask is a torch-saved list (per language) of lists (per layer)
of index tensors, as LAPE's identify.py (*.neuron.pth) and the alignment repo's identify.py
(activation_masks/.../mask.*) save it; its languages are in the report's group order (LAPE's
file may lack trailing languages without neurons).

  compare_published.py NEURONS.json|REPORT.json MASK
"""
import json
import sys

import torch


def main():
    rep = json.load(open(sys.argv[1]))
    mask = torch.load(sys.argv[2], map_location="cpu")
    groups = rep["groups"]
    if isinstance(groups, dict):  # a neuron set: name -> entries, in file (language) order
        groups = [{"name": name, "neurons": entries} for name, entries in groups.items()]
    ok = True
    for g, grp in enumerate(groups):
        ours = sorted((n["layer"], n["index"]) for n in grp["neurons"])
        theirs = sorted((l, int(i)) for l, t in enumerate(mask[g]) for i in t.tolist()) if g < len(mask) else []
        same = ours == theirs
        ok &= same
        print(f"{grp['name']:>6}: ours {len(ours):5d}  published {len(theirs):5d}  {'identical' if same else 'DIFFERENT'}")
    if len(mask) > len(groups):
        ok = False
        print(f"published file has {len(mask)} languages, report {len(groups)}")
    print("all identical" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
