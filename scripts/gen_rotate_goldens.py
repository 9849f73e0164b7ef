#!/usr/bin/python3
"""Writes the torch goldens under testdata/rotate/ used by pkg/rotate's tests.

    /usr/bin/python3 scripts/gen_rotate_goldens.py

For each toy model it writes <dir>/config.json and model.safetensors (a
random Qwen2 in HF layout, float32), R.bin (an R file made by torch.save from
torch's RNG, exactly as mllm draws it: R = diag(s)·Mᵀ/torch.tensor(n).sqrt())
and rotated.pth (the model rotated by torch following spec §3.4 with float64
matmuls on CPU). Models:
  tv13   spec TV13: 1 layer, hidden 8, heads 2, kv 1, head_dim 4, inter 12,
         q/k/v biases, tied embeddings;
  toy96  2 layers, hidden 96 (K=12), heads 4 (head_dim 24, K=12), kv 2,
         inter 64, untied; R_v saved as a list.
The output is deterministic (fixed torch seeds).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_rotate import REPO, load_safetensors, random_hadamard_torch, torch_rotate, write_synthetic  # noqa: E402

import json  # noqa: E402

MODELS = [
    # name, (hidden, heads, kv, inter, layers, vocab, tied, weight seed), R seed
    ("tv13", (8, 2, 1, 12, 1, 32, True, 13), 2013),
    ("toy96", (96, 4, 2, 64, 2, 64, False, 96), 2096),
]


def main():
    for name, dims, rseed in MODELS:
        d = os.path.join(REPO, "testdata", "rotate", name)
        write_synthetic(d, *dims)
        cfg = json.load(open(os.path.join(d, "config.json")))
        sd = load_safetensors(os.path.join(d, "model.safetensors"))
        hidden, heads, layers = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
        g = torch.Generator().manual_seed(rseed)
        R = random_hadamard_torch(hidden, g)
        R_v = [random_hadamard_torch(hidden // heads, g) for _ in range(layers)]
        torch.save({"R": R, "R_v": R_v}, os.path.join(d, "R.bin"))
        rot = torch_rotate(sd, cfg, R, R_v)
        torch.save(rot, os.path.join(d, "rotated.pth"))
        print(f"wrote {d}: {len(rot)} tensors")


if __name__ == "__main__":
    main()
