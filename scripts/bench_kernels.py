#!/usr/bin/python3
"""OpenBLAS sgemm reference for scripts/bench_kernels.sh.

Times numpy's float32 `x @ w.T` (Debian numpy linked against OpenBLAS) for the
kernel acceptance shapes and prints one line per shape:

    openblas M512_N2048_K2048 <GFLOP/s>

Each figure is total flops / total time over repeated calls for about
--seconds seconds after one warm-up call (the same method as `go test -bench`).
The BLAS library, its core type and thread count go to stderr. Exits non-zero
if numpy is not running on OpenBLAS.
"""
import argparse
import ctypes
import sys
import time

import numpy as np

SHAPES = [(512, 2048, 2048), (1, 5504, 2048)]


def openblas_info():
    """Return (path, config, corename, threads) of the loaded OpenBLAS."""
    with open("/proc/self/maps") as f:
        libs = sorted({l.split()[-1] for l in f if "openblas" in l and ".so" in l})
    for path in libs:
        lib = ctypes.CDLL(path)
        if not hasattr(lib, "openblas_get_corename"):
            continue
        lib.openblas_get_config.restype = ctypes.c_char_p
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return (path, lib.openblas_get_config().decode(),
                lib.openblas_get_corename().decode(), lib.openblas_get_num_threads())
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per shape")
    args = ap.parse_args()

    rng = np.random.default_rng(1)
    small = rng.standard_normal((8, 8)).astype(np.float32)
    _ = small @ small.T  # make numpy load its BLAS
    info = openblas_info()
    if info is None:
        print("bench_kernels.py: numpy is not using OpenBLAS", file=sys.stderr)
        return 1
    print(f"numpy {np.__version__}; BLAS {info[0]}; {info[1]}; core {info[2]}; "
          f"threads {info[3]}", file=sys.stderr)

    for m, n, k in SHAPES:
        x = rng.standard_normal((m, k)).astype(np.float32)
        w = rng.standard_normal((n, k)).astype(np.float32)
        out = x @ w.T  # warm-up
        assert out.dtype == np.float32 and out.shape == (m, n)
        iters, t0 = 0, time.perf_counter()
        while True:
            out = x @ w.T
            iters += 1
            el = time.perf_counter() - t0
            if el >= args.seconds:
                break
        print(f"openblas M{m}_N{n}_K{k} {2.0 * m * n * k * iters / el / 1e9:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
