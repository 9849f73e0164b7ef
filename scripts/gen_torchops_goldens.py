#!/usr/bin/python3
"""Write testdata/model/torch_ops.{json,f32}: torch's float32 CPU results for
the elementwise steps and reductions pkg/model reproduces bit for bit.

Run from the repository root with Debian's torch (1.13.1, AVX2 kernels):

    /usr/bin/python3 scripts/gen_torchops_goldens.py

torch_ops.f32 holds raw little-endian float32 arrays; torch_ops.json lists
the cases in order, each with its parameters and the offset (in floats) and
length of its input and expected output:

  exp       x.exp()                               (SLEEF expf_u10)
  silu      torch.nn.functional.silu(x)
  softmax   torch.softmax(x, -1) of one row (lengths 1..517)
  masked    HF's masked softmax: softmax(x + mask) of a row of n keys whose
            first `valid` are unmasked (mask float32 min); the output is the
            first `valid` probabilities
  rmsnorm   torch_qwen2.RMSNorm (HF's: weight * (x * rsqrt(x.pow(2).mean(-1)
            + eps))) of [rows][d]; the input is the weight then x

Every array's length is a multiple of 8 or its own case (torch's vectorized
loops run over whole tensors; these match them).
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_qwen2 as tq  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "testdata", "model")


def main():
    torch.manual_seed(7)
    blob = []
    cases = []
    off = [0]

    def add(name, params, inp, out):
        inp = np.ascontiguousarray(inp, dtype=np.float32).ravel()
        out = np.ascontiguousarray(out, dtype=np.float32).ravel()
        c = dict(name=name, **params)
        c["in"], c["n_in"] = off[0], len(inp)
        off[0] += len(inp)
        c["out"], c["n_out"] = off[0], len(out)
        off[0] += len(out)
        blob.extend([inp, out])
        cases.append(c)

    # exp over the whole range SLEEF handles, the overflow/underflow edges,
    # and subnormal results.
    x = torch.cat([
        torch.rand(12288) * 200 - 110,
        torch.randn(2048) * 3,
        torch.linspace(-104.5, -86, 1024),
        torch.linspace(86, 89, 512),
        torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e-40, 104.0, -104.0, 88.7, 88.8, float("inf"), float("-inf"), 1.0, -1.0, 0.5, 0.6931472, -0.6931472]),
    ])
    add("exp", {}, x.numpy(), x.exp().numpy())
    x = torch.cat([torch.randn(16368) * 3, torch.tensor([0.0, -0.0, 30.0, -30.0, 100.0, -100.0, 1e-20, -1e-20, 88.0, -88.0, 105.0, -105.0, 5.0, -5.0, 0.1, -0.1])])
    add("silu", {}, x.numpy(), torch.nn.functional.silu(x).numpy())
    for n in (1, 3, 7, 8, 9, 16, 17, 63, 64, 65, 517):
        x = torch.randn(n) * 4
        add("softmax", {"n": n}, x.numpy(), torch.softmax(x, dim=-1).numpy())
    big = torch.finfo(torch.float32).min
    for n, valid in ((5, 2), (8, 1), (9, 9), (12, 5), (40, 33), (300, 7), (300, 299), (517, 260)):
        x = torch.randn(n) * 4
        mask = torch.zeros(n)
        mask[valid:] = big
        p = torch.softmax(x + mask, dim=-1)
        add("masked", {"n": n, "valid": valid}, x[:valid].numpy(), p[:valid].numpy())
    for d, rows in ((64, 16), (256, 32), (704, 16), (2048, 8), (5504, 4), (16384, 2), (100, 3)):
        norm = tq.RMSNorm(d, 1e-6)
        norm.weight.data = torch.randn(d) * 0.5 + 1
        x = torch.randn(rows, d) * torch.rand(rows, 1) * 8
        with torch.no_grad():
            y = norm(x)
        add("rmsnorm", {"d": d, "rows": rows, "eps": 1e-6}, np.concatenate([norm.weight.data.numpy(), x.numpy().ravel()]), y.numpy())

    os.makedirs(OUT, exist_ok=True)
    np.concatenate(blob).astype("<f4").tofile(os.path.join(OUT, "torch_ops.f32"))
    with open(os.path.join(OUT, "torch_ops.json"), "w") as f:
        cap = [l.split(":", 1)[1].strip() for l in torch.__config__.show().splitlines() if "CPU capability usage" in l]
        json.dump({"torch": torch.__version__, "cpu_capability": cap[0] if cap else "unknown", "cases": cases}, f, indent=1)
        f.write("\n")
    print("wrote %d cases, %d floats" % (len(cases), off[0]))


if __name__ == "__main__":
    main()
