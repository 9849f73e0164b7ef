#!/usr/bin/python3
"""Golden vectors for pkg/runtime and pkg/quant's vec_dot, from independent
NumPy implementations of the runtime spec (/work/shared/spec/mllm-runtime.md):

  * vec_dot_q4_K_q8_K (§5.3) on the first 4 rows (1 block each) of the
    lm_head of mllm's own Q4_K file for tinyqwen2 (shared/assets/
    mllm-quantize/tinyqwen2-rot-q4_k.mllm), against Q8_K activations made
    by quantize_row_q8_K_reference (§5.2), float32 arithmetic as written;
  * the fp16-accumulated vec_dot_fp16 (§2.9) with NumPy float16 rounding;
  * CPU / HTP-ref / HTP-HVX quantization (§2.1) and the CPU / HTP-ref
    RMSNorm (§2.6).

Writes testdata/runtime/goldens.json (float32 values as uint32 bits).
Usage: /usr/bin/python3 scripts/gen_runtime_goldens.py [path to the q4_k .mllm]
"""
import json
import os
import struct
import sys

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "assets", "mllm-quantize", "tinyqwen2-rot-q4_k.mllm")
f32 = np.float32
rng = np.random.default_rng(20260101)


def bits(x):
    return int(np.array(x, dtype=np.float32).view(np.uint32))


def tensor(path, want):
    d = open(path, "rb").read()
    magic, isz = struct.unpack_from("<iQ", d, 0)
    assert magic == 20012
    p = 12
    while p < 12 + isz:
        (nl,) = struct.unpack_from("<i", d, p)
        name = d[p + 4:p + 4 + nl].decode()
        q = p + 4 + nl
        size, off, dt = struct.unpack_from("<QQi", d, q)
        p = q + 20
        if name == want:
            return dt, d[off:off + size]
    raise KeyError(want)


def nearest_int(v):  # ggml nearest_int: RNE in float32
    return int(np.rint(f32(v)))


def quantize_q8k(x):
    amax, mx = f32(0), f32(0)
    for v in x:  # first element of largest |x|
        if abs(v) > amax:
            amax, mx = abs(v), v
    if amax == 0:
        return bytes(4 + 256 + 32)
    iscale = f32(f32(-128) / mx)
    qs = [min(127, nearest_int(f32(iscale * v))) for v in x]
    bs = [sum(qs[16 * g:16 * g + 16]) for g in range(16)]
    d = f32(f32(1) / iscale)
    return struct.pack("<f", d) + bytes(np.array(qs, dtype=np.int8).view(np.uint8)) + struct.pack("<16h", *bs)


def scale_min(j, q):
    if j < 4:
        return q[j] & 63, q[j + 4] & 63
    return (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)


def vec_dot_q4k_q8k(w, a):
    sumf = f32(0)
    for i in range(len(w) // 144):
        x = w[144 * i:144 * (i + 1)]
        y = a[292 * i:292 * (i + 1)]
        yd = f32(struct.unpack_from("<f", y, 0)[0])
        xd = f32(np.frombuffer(x[0:2], dtype=np.float16)[0])
        xm = f32(np.frombuffer(x[2:4], dtype=np.float16)[0])
        d, dmin = f32(yd * xd), f32(yd * xm)
        q8 = np.frombuffer(y[4:260], dtype=np.int8).astype(np.int64)
        bs = struct.unpack_from("<16h", y, 260)
        summ, sumi = 0, 0
        for j in range(8):
            sc, m = scale_min(j, x[4:16])
            summ += (bs[2 * j] + bs[2 * j + 1]) * m
            c, hi = j // 2, j % 2
            nib = np.frombuffer(x[16 + 32 * c:16 + 32 * c + 32], dtype=np.uint8).astype(np.int64)
            nib = (nib >> 4) if hi else (nib & 0xF)
            sumi += sc * int(np.dot(nib, q8[64 * c + 32 * hi:64 * c + 32 * hi + 32]))
        sumf = f32(sumf - f32(dmin * f32(summ)))
        sumf = f32(sumf + f32(d * f32(sumi)))
    return sumf


def h(v):  # round to fp16, as float64
    return float(np.float64(v).astype(np.float16))


def vec_dot_f16(x, y):
    n = len(x)
    np_ = n - n % 32
    acc = [0.0] * 32
    for i in range(0, np_, 32):
        for l in range(32):
            acc[l] = h(acc[l] + float(x[i + l]) * float(y[i + l]))
    for l in range(8):
        a0 = h(acc[l] + acc[16 + l])
        a1 = h(acc[8 + l] + acc[24 + l])
        acc[l] = h(a0 + a1)
    t = [f32(f32(acc[l]) + f32(acc[4 + l])) for l in range(4)]
    s = f32(f32(t[0] + t[1]) + f32(t[2] + t[3]))
    for i in range(np_, n):
        s = f32(s + f32(f32(x[i]) * f32(y[i])))
    return s


out = {"source": os.path.basename(SRC)}

# 1. q4_K · q8_K
dt, head = tensor(SRC, "lm_head.weight")
assert dt == 12
cases = []
for r in range(4):
    w = head[144 * r:144 * (r + 1)]
    x = (rng.standard_normal(256) * [1, 3, 0.1, 10][r]).astype(np.float32)
    a = quantize_q8k(x)
    cases.append({"w": w.hex(), "x": [bits(v) for v in x], "a": a.hex(), "dot": bits(vec_dot_q4k_q8k(w, a))})
out["q4k_q8k"] = cases

# 2. fp16-accumulated dot products
cases = []
for n in (32, 64, 100, 300):
    x = (rng.standard_normal(n) * 4).astype(np.float16)
    y = (rng.standard_normal(n) * 0.5).astype(np.float16)
    cases.append({"x": [bits(np.float32(v)) for v in x], "y": [bits(np.float32(v)) for v in y], "dot": bits(vec_dot_f16(x, y))})
out["vec_dot_f16"] = cases

# 3. quantization, step s8(r) of a range
x = (rng.standard_normal(64) * 3).astype(np.float32)
x[:4] = [0.25, -0.25, 100, -100]
r = f32(2.5)
s8 = f32(np.float64(r) / 127.0)
s16 = f32(np.float64(r) / 32767.0)
q = {}
for bits_, s in ((8, s8), (16, s16)):
    lo, hi = (-128, 127) if bits_ == 8 else (-32768, 32767)
    inv = f32(f32(1) / s)
    cpu = [int(np.clip(np.rint(np.float64(f32(v * inv))), lo, hi)) for v in x]
    ref = []
    for v in x:
        t = np.float64(f32(v / s))
        ref.append(int(np.clip(np.sign(t) * np.floor(abs(t) + 0.5), lo, hi)))
    hvx = [int(np.floor(np.clip(np.float64(f32(f32(v * inv) + f32(0.5))), lo, hi))) for v in x]
    q[str(bits_)] = {"step": bits(s), "cpu": cpu, "htp_ref": ref, "htp_hvx": hvx}
out["quantize"] = {"range": bits(r), "x": [bits(v) for v in x], "by_bits": q}

# 4. RMSNorm (one row of 256)
x = (rng.standard_normal(256) * 2).astype(np.float32)
w = (1 + rng.standard_normal(256) * 0.1).astype(np.float32)
ss = sum(float(v) * float(v) for v in x)  # double, index order
mean = f32(ss / 256)
inv = f32(f32(1) / f32(np.sqrt(f32(mean + f32(1e-6)))))
cpu = [bits(f32(f32(v * inv) * wv)) for v, wv in zip(x, w)]
s = f32(0)
for v in x:
    s = f32(s + f32(v * v))
den = f32(np.sqrt(f32(f32(s / f32(256)) + f32(1e-6))))
htp = [bits(f32(f32(v * wv) / den)) for v, wv in zip(x, w)]
out["rmsnorm"] = {"x": [bits(v) for v in x], "w": [bits(v) for v in w], "cpu": cpu, "htp_ref": htp}

path = os.environ.get("GOLDENS_OUT") or os.path.join(ROOT, "testdata", "runtime", "goldens.json")
with open(path, "w") as fh:
    json.dump(out, fh, separators=(",", ":"))
    fh.write("\n")
print("wrote", path)
