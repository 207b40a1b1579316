#!/usr/bin/env python3
"""Convert published activation statistics into a neuronscope activation-probability file.

For acceptance checks only (never needed by the Go tests). Reads the papers' torch files and
computes the probabilities exactly as the published scripts do (counts converted to float32,
divided in float32), then writes safetensors: one F32 tensor "activation_probability"
[groups, layers, width] with metadata languages, tap, counting, tokens.

  LAPE (RUCAIBox/Language-Specific-Neurons; files hold n and over_zero [layers, width]):
    convert_published.py lape OUT.safetensors en=activation.en.train.llama-7b zh=...
  Alignment (NJUNLP/Language-Neurons-Alignment; full and prefix files hold total_tokens and
  over_zero; probabilities are the response-only (full - prefix) ones):
    convert_published.py alignment OUT.safetensors en=activation.en.X.pt:prefix.activation.en.X.pt ...
"""
import json
import struct
import sys

import torch


def write_safetensors(path, probs, langs, counting, tokens):
    data = probs.contiguous().numpy().astype("<f4").tobytes()
    header = {
        "__metadata__": {
            "languages": ",".join(langs),
            "tap": "mlp.hook_pre",  # SiLU(gate) > 0  <=>  gate pre-activation > 0
            "counting": counting,
            "tokens": ",".join(str(t) for t in tokens),
        },
        "activation_probability": {"dtype": "F32", "shape": list(probs.shape), "data_offsets": [0, len(data)]},
    }
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        f.write(data)


def main():
    mode, out, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
    langs, rows, tokens = [], [], []
    for pair in pairs:
        lang, files = pair.split("=", 1)
        langs.append(lang)
        if mode == "lape":
            d = torch.load(files, map_location="cpu")
            over, n = d["over_zero"], int(d["n"])
            # identify.py: over_zero / torch.tensor(n): integer true division in float32
            rows.append(over.to(torch.int64) / torch.tensor([n]))
            tokens.append(n)
        elif mode == "alignment":
            full_path, prefix_path = files.split(":")
            f = torch.load(full_path, map_location="cpu", weights_only=True)
            p = torch.load(prefix_path, map_location="cpu", weights_only=True)
            # analysis.py Neuron_Prob._load_and_build
            d_tok = max(int(f["total_tokens"]) - int(p["total_tokens"]), 1)
            d_oz = (f["over_zero"].to(torch.long) - p["over_zero"].to(torch.long)).clamp_min(0)
            rows.append(d_oz.to(torch.float32) / float(d_tok))
            tokens.append(d_tok)
        else:
            sys.exit("mode must be lape or alignment")
    probs = torch.stack(rows).to(torch.float32)  # [groups, layers, width]
    write_safetensors(out, probs, langs, "all" if mode == "lape" else "response", tokens)
    print(f"wrote {out}: {list(probs.shape)} languages {langs}")


if __name__ == "__main__":
    main()
