#!/usr/bin/python3
"""Golden outputs of torch's float32 Linear (OpenBLAS sgemm, one thread).

Writes testdata/kernels/torch_gemm.json (shapes, offsets) and
testdata/kernels/torch_gemm.f32 (the outputs, little-endian float32) for
pkg/kernels' TestMatMulTTorchBits: x [tokens, K], W [features, K] and the
bias hold values of a hash of their index (hashValue, identical in the Go
test), so only the outputs are stored. torch computes F.linear(x, W, b),
i.e. the BLAS product C[features, tokens] = W·xᵀ, in OpenBLAS 0.3.21's
single-threaded order; the shapes cover feature blocks of 320 and their
halving, token panels of 12 with every tail, depths with remainders mod 8
and the K blocks of 320.

OpenBLAS reads OPENBLAS_NUM_THREADS when it is loaded, so the script
re-executes itself with OPENBLAS_NUM_THREADS=1 when it is not set.
Run with Debian's /usr/bin/python3 (torch 1.13).
"""

import json
import os
import sys

if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "testdata", "kernels")

# (features, tokens, K, bias)
SHAPES = [
    (40, 30, 100, False),
    (40, 20, 64, False), (40, 21, 64, True), (40, 22, 64, False), (40, 23, 64, False),
    (392, 29, 35, False), (660, 14, 30, True), (357, 29, 35, False), (370, 52, 30, False),
    (9, 30, 64, False), (12, 16, 64, False), (17, 30, 64, False), (5, 57, 49, False),
    (25, 33, 64, False), (33, 9, 40, False), (64, 37, 37, False), (48, 36, 203, False),
    (16, 12, 660, False), (16, 12, 500, False), (24, 13, 1000, True), (50, 40, 203, False),
    (704, 7, 256, False), (256, 6, 704, False), (128, 4, 20, False), (96, 5, 20, False),
    (1, 3, 10, False), (8, 1, 33, False),
]


def hash_values(n, seed):
    """Uniform values in [-1, 1) on a 2^-23 grid from a 32-bit index hash."""
    i = np.arange(n, dtype=np.uint64)
    m = np.uint64(0xFFFFFFFF)
    h = (i * np.uint64(0x9E3779B1) + np.uint64(seed) * np.uint64(0x85EBCA77)) & m
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x2C1B3C6D)) & m
    h ^= h >> np.uint64(12)
    h = (h * np.uint64(0x297A2D39)) & m
    h ^= h >> np.uint64(15)
    return ((h >> np.uint64(8)).astype(np.float64) * 2.0 ** -23 - 1.0).astype(np.float32)


def main():
    torch.set_num_threads(1)
    cases = []
    outs = []
    for si, (f, t, k, bias) in enumerate(SHAPES):
        x = torch.from_numpy(hash_values(t * k, 3 * si + 1).reshape(t, k))
        w = torch.from_numpy(hash_values(f * k, 3 * si + 2).reshape(f, k))
        b = torch.from_numpy(hash_values(f, 3 * si + 3)) if bias else None
        y = torch.nn.functional.linear(x, w, b).numpy()
        cases.append({"features": f, "tokens": t, "k": k, "bias": bias,
                      "x_seed": 3 * si + 1, "w_seed": 3 * si + 2, "b_seed": 3 * si + 3})
        outs.append(y.astype("<f4").ravel())
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "torch_gemm.json"), "w") as fp:
        json.dump({"torch": torch.__version__, "openblas_threads": 1, "cases": cases}, fp, indent=1)
        fp.write("\n")
    data = np.concatenate(outs)
    data.tofile(os.path.join(OUT, "torch_gemm.f32"))
    print("wrote %d cases, %d outputs" % (len(cases), data.size))


if __name__ == "__main__":
    main()
