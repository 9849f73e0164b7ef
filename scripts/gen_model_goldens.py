#!/usr/bin/python3
"""Write the pkg/model goldens into testdata/model/ with scripts/torch_qwen2.py.

Run from the repository root with Debian's torch:

    /usr/bin/python3 scripts/gen_model_goldens.py

Outputs:
  testdata/model/prompt_logits.f32   tinyqwen2's raw little-endian float32 logits
                                     [32][vocab] for a fixed 32-id prompt
  testdata/model/prompt.json         ids, shape, torch version, and per-linear
                                     statistics of every hooked linear's input and
                                     output (absmax, sum, sum of |x|) over the prompt,
                                     to check the Go hook tap against torch forward hooks
  testdata/model/tinyllama/          a random 2-layer Llama checkpoint (bf16
                                     safetensors, untied lm_head, no biases, 4:1 GQA,
                                     rope_theta 5e5, eps 1e-5) made here with a fixed seed
  testdata/model/tinyllama_logits.f32, tinyllama.json   its logits for 16 ids
  testdata/model/rope.json, rope_cossin.u32
                                     HF's float32 inv_freq bits and torch's cos/sin
                                     bits at ~160 positions up to 40000 for several
                                     (theta, head_dim)
  testdata/model/sleef.json, sleef_sincos.u32
                                     SLEEF's Payne-Hanek table read out of
                                     libsleef.so.3 and torch's (SLEEF's) sin/cos of
                                     8-lane vectors covering both reduction paths,
                                     and its pow

`gen_model_goldens.py rope` writes only the last two.
"""

import json
import math
import os
import re
import struct
import sys

# torch's products go through OpenBLAS, whose summation order depends on its
# thread count (read when the library loads): the goldens are made with one
# thread, the order pkg/model follows (kernels.MatMulTTorch).
if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
    os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, OPENBLAS_NUM_THREADS="1"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_qwen2 as tq  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODEL = os.path.join(ROOT, "testdata", "tinyqwen2")
OUT = os.path.join(ROOT, "testdata", "model")

# The opening of Persuasion (held out from training).
PROMPT_TEXT = (
    "Sir Walter Elliot, of Kellynch Hall, in Somersetshire, was a man who, "
    "for his own amusement, never took up any book but the Baronetage"
)
PROMPT_LEN = 32


def _byte_map():
    # GPT-2 / Qwen2 byte-level alphabet.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def encode_ascii(text, tok_path):
    """Byte-level BPE of plain ASCII words/punctuation (enough for PROMPT_TEXT)."""
    with open(tok_path, encoding="utf-8") as f:
        tok = json.load(f)
    vocab = tok["model"]["vocab"]
    merges = tok["model"]["merges"]
    rank = {}
    for i, m in enumerate(merges):
        a, b = m.split(" ") if isinstance(m, str) else m
        rank[(a, b)] = i
    bm = _byte_map()
    ids = []
    for piece in re.findall(r" ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+", text):
        parts = [bm[b] for b in piece.encode("utf-8")]
        while len(parts) > 1:
            best = min(range(len(parts) - 1), key=lambda i: rank.get((parts[i], parts[i + 1]), 1 << 30))
            if (parts[best], parts[best + 1]) not in rank:
                break
            parts[best : best + 2] = [parts[best] + parts[best + 1]]
        ids += [vocab[p] for p in parts]
    return ids


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    ids = encode_ascii(PROMPT_TEXT, os.path.join(MODEL, "tokenizer.json"))
    if len(ids) < PROMPT_LEN:
        raise SystemExit("prompt has only %d ids" % len(ids))
    ids = ids[:PROMPT_LEN]
    m = tq.load_model(MODEL)
    stats = {}

    def hook(name, inp, out):
        inp = inp.double()
        out = out.double()
        stats[name] = {
            "in_absmax": inp.abs().max().item(),
            "in_sum": inp.sum().item(),
            "in_abssum": inp.abs().sum().item(),
            "out_absmax": out.abs().max().item(),
            "out_sum": out.sum().item(),
            "out_abssum": out.abs().sum().item(),
        }

    handles = tq.register_linear_hooks(m, hook)
    logits = tq.forward(m, ids)
    for h in handles:
        h.remove()
    arr = logits.numpy().astype("<f4")
    with open(os.path.join(OUT, "prompt_logits.f32"), "wb") as f:
        f.write(arr.tobytes())
    meta = {
        "model": "testdata/tinyqwen2",
        "text": PROMPT_TEXT,
        "ids": ids,
        "shape": list(arr.shape),
        "dtype": "float32 little-endian, row-major [ids][vocab]",
        "torch": torch.__version__,
        "linears": [dict(name=n, **stats[n]) for n in tq.linear_names(m)],
    }
    with open(os.path.join(OUT, "prompt.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    gen_llama()
    gen_rope()
    gen_sleef()
    print("wrote %s (%d ids, logits %s; tinyllama; rope; sleef)" % (os.path.normpath(OUT), len(ids), arr.shape))


def write_safetensors(path, tensors):
    """Write {name: tensor} as bf16 safetensors (keys sorted, like HF)."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].to(torch.bfloat16).contiguous()
        raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "vocab_size": 256,
    "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "attention_bias": False,
    "hidden_act": "silu",
    "max_position_embeddings": 128,
    "torch_dtype": "bfloat16",
    "bos_token_id": 1,
    "eos_token_id": 2,
}


def gen_llama():
    d = os.path.join(OUT, "tinyllama")
    os.makedirs(d, exist_ok=True)
    c = tq.Config(LLAMA_CONFIG)
    g = torch.Generator().manual_seed(1234)
    m = tq.Qwen2(c)
    sd = {}
    for name, p in m.state_dict().items():
        if name.endswith("norm.weight"):
            sd[name] = 1 + 0.2 * torch.randn(p.shape, generator=g)
        elif name == "model.embed_tokens.weight":
            sd[name] = torch.randn(p.shape, generator=g)
        else:
            sd[name] = torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1])
    write_safetensors(os.path.join(d, "model.safetensors"), sd)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(LLAMA_CONFIG, f, indent=2)
        f.write("\n")
    lm = tq.load_model(d)
    ids = [(i * 37 + 11) % c.vocab_size for i in range(16)]
    arr = tq.forward(lm, ids).numpy().astype("<f4")
    with open(os.path.join(OUT, "tinyllama_logits.f32"), "wb") as f:
        f.write(arr.tobytes())
    with open(os.path.join(OUT, "tinyllama.json"), "w") as f:
        json.dump({"model": "testdata/model/tinyllama", "ids": ids, "shape": list(arr.shape), "torch": torch.__version__}, f, indent=1)
        f.write("\n")


# Positions of the RoPE goldens: every position where the first 8-lane
# vector of a row changes path (angles of 125 and up take SLEEF's Payne-Hanek
# reduction for the whole vector), samples up to 2100 and beyond.
ROPE_POSITIONS = sorted(set(
    list(range(0, 20)) + list(range(120, 136)) + list(range(20, 2101, 61))
    + [1249, 1250, 1251, 2047, 2048, 4095, 4096, 8191, 12499, 12500, 12501, 16383, 32767, 32768, 39999, 40000]
    + [int(p) for p in np.random.default_rng(5).integers(2101, 40000, 40)]))
# (theta, head_dim): Qwen2 (1e6, 64 and 128), Llama-2 (1e4), Llama-3 (5e5),
# and head_dim 40, whose half (20) is not a multiple of 8, so a row's vectors
# mix angles of both halves.
ROPE_CASES = [(10000.0, 64), (10000.0, 128), (1000000.0, 128), (500000.0, 128), (1000000.0, 64), (10000.0, 40)]


def gen_rope():
    """rope.json + rope_cossin.u32: HF's float32 inv_freq and torch's emb.cos()
    and emb.sin() rows (torch_qwen2.Rotary over all ROPE_POSITIONS at once,
    one thread). For each case and position the file holds the cos row then
    the sin row, as uint32 bits; only the first half when head_dim/2 is a
    multiple of 8 (the second half is then bitwise the same, checked here)."""
    torch.set_num_threads(1)
    out = []
    blob = []
    off = 0
    for theta, dim in ROPE_CASES:
        rot = tq.Rotary(dim, theta)
        cos, sin = rot(torch.tensor(ROPE_POSITIONS))
        cos = cos.contiguous().view(torch.int32).numpy().astype("<u4")
        sin = sin.contiguous().view(torch.int32).numpy().astype("<u4")
        h = dim // 2
        width = dim
        if h % 8 == 0:
            if not (np.array_equal(cos[:, :h], cos[:, h:]) and np.array_equal(sin[:, :h], sin[:, h:])):
                raise SystemExit("theta %g dim %d: emb halves differ" % (theta, dim))
            width = h
        rows = np.concatenate([cos[:, :width], sin[:, :width]], axis=1)
        blob.append(rows.ravel())
        out.append({
            "theta": theta,
            "head_dim": dim,
            "inv_freq_bits": [x & 0xFFFFFFFF for x in rot.inv_freq.view(torch.int32).tolist()],
            "positions": ROPE_POSITIONS,
            "width": width,
            "offset": off,
        })
        off += rows.size
    with open(os.path.join(OUT, "rope_cossin.u32"), "wb") as f:
        f.write(np.concatenate(blob).astype("<u4").tobytes())
    with open(os.path.join(OUT, "rope.json"), "w") as f:
        json.dump({
            "torch": torch.__version__,
            "file": "rope_cossin.u32",
            "layout": "per case, per position: cos row then sin row, `width` uint32 float bits each, from `offset` (in uint32)",
            "cases": out,
        }, f)
        f.write("\n")


LIBSLEEF = "/lib/x86_64-linux-gnu/libsleef.so.3"


def gen_sleef():
    """sleef.json + sleef_sincos.u32: SLEEF 3.5.1's float Payne-Hanek table
    (Sleef_rempitabsp, 103 rows of 4 floats, read out of libsleef.so.3: it is
    not exported, so it is found by its first two entries as printed in
    SLEEF's rempitab.c) and torch's sin/cos of 8-lane vectors (one thread, a
    contiguous tensor: Sleef_sinf8_u10 / Sleef_cosf8_u10 on each aligned group
    of 8) chosen to exercise both reduction paths: small and large arguments,
    mixed vectors, up to 1e5 and huge ones, negatives, ±0, subnormals, 125
    itself, the 2^-64 rescaling above 2^90, Inf and NaN; and torch's pow
    (Sleef_powf8_u10) of HF inv_freq arguments and random ones."""
    torch.set_num_threads(1)
    with open(LIBSLEEF, "rb") as f:
        lib = f.read()
    key = struct.pack("<ff", 0.159154892, 5.112411827e-08)
    at = lib.find(key)
    if at < 0 or lib.find(key, at + 1) >= 0:
        raise SystemExit("%s: Sleef_rempitabsp not found exactly once" % LIBSLEEF)
    tab = list(struct.unpack("<412I", lib[at : at + 412 * 4]))

    rng = np.random.default_rng(11)

    def f32(a):
        return np.asarray(a, dtype=np.float32)

    vecs = []
    # Small vectors (all |x| < 125): Cody-Waite reduction.
    vecs.append(f32(rng.random((128, 8)) * 250 - 125))
    vecs.append(f32(rng.random((32, 8)) * 2 - 1) * f32(10.0) ** f32(rng.integers(-12, 1, (32, 8))))
    # One large lane sends the whole vector through rempif: lanes below 0.7
    # are kept as they are, the others reduced with the table.
    v = f32(rng.random((128, 8)) * 250 - 125)
    v[np.arange(128), rng.integers(0, 8, 128)] = f32(125 + rng.random(128) * 1e5) * np.where(rng.random(128) < 0.5, -1, 1)
    vecs.append(v)
    v = f32(rng.random((64, 8)) * 1.6 - 0.8)
    v[:, 5] = 125.0
    vecs.append(v)
    # Large arguments everywhere: log-uniform 125 .. 3.4e38, both signs.
    vecs.append(f32(np.exp(rng.random((96, 8)) * (np.log(3.4e38) - np.log(125)) + np.log(125)) * np.where(rng.random((96, 8)) < 0.5, -1, 1)))
    # Log-uniform over the whole float range, subnormals included, mixed.
    vecs.append(f32(np.exp(rng.random((96, 8)) * (np.log(3.4e38) - np.log(1e-45)) + np.log(1e-45)) * np.where(rng.random((96, 8)) < 0.5, -1, 1)))
    # RoPE-like products p*f and multiples of pi/2 (hard reductions).
    p = f32(rng.integers(0, 40000, (96, 8)))
    fr = f32(10000.0 ** (-(rng.integers(0, 64, (96, 8)) * 2 / 128.0)))
    vecs.append(p * fr)
    vecs.append(f32(rng.integers(-100000, 100000, (64, 8)) * (np.pi / 2)))
    # Edges: the 125 bound, the 2^90 rescaling, 1e30, FLT_MAX, ±0,
    # subnormals, Inf, NaN, 0.7.
    edges = f32([0.0, -0.0, 1e-45, -1e-45, 1e-40, 1.1754944e-38, 1e-30, -1e-30,
                 124.99999, -124.99999, 125.0, -125.0, 125.00001, 0.7, 0.69999999, -0.7,
                 1e5, -1e5, 99999.99, 3.0e4, 2.0**90, 2.0**91, -(2.0**91) * 1.5, 2.0**25,
                 2.0**26, 1e30, -1e30, 3.4028235e38, -3.4028235e38, 1e38, float("inf"), float("-inf"),
                 float("nan"), 8.0e6, 39000.0, 5e9, 1.5707964, 3.1415927, 4.712389, 6.2831855])
    vecs.append(edges.reshape(-1, 8))
    alone = np.zeros((len(edges), 8), np.float32)
    alone[:, 0] = edges
    vecs.append(alone)
    x = np.concatenate([v.reshape(-1, 8) for v in vecs]).ravel()
    t = torch.from_numpy(x.copy())
    s = torch.sin(t).numpy()
    c = torch.cos(t).numpy()
    # powf (Sleef_powf8_u10): HF's theta ** (arange(0, d, 2).float() / d)
    # for several theta and d, and random x > 0, y; every array's length is
    # a multiple of 16, so torch's pow kernel vectorizes all of it.
    px, py = [], []
    for theta in [10000.0, 1000000.0, 500000.0, 100000.0, 25000.0, 10000000.0, 160000.0]:
        for d in [32, 64, 80, 96, 128, 160, 256]:
            e = (torch.arange(0, d, 2, dtype=torch.int64).float() / d).numpy()
            px.append(np.full(len(e), theta, np.float32))
            py.append(e)
    px.append(f32(np.exp(rng.random(1024) * np.log(1e20) - np.log(1e10))))
    py.append(f32(rng.random(1024) * 4 - 2))
    px, py = np.concatenate(px), np.concatenate(py)
    keep = len(px) // 16 * 16
    px, py = px[:keep], py[:keep]
    pw = torch.pow(torch.from_numpy(px.copy()), torch.from_numpy(py.copy())).numpy()
    arrays = [("sincos_x", x), ("sin", s), ("cos", c), ("pow_x", px), ("pow_y", py), ("pow", pw)]
    index = {}
    at = 0
    for name, a in arrays:
        index[name] = [at, int(a.size)]
        at += a.size
    blob = np.concatenate([a.view("<u4") for _, a in arrays])
    with open(os.path.join(OUT, "sleef_sincos.u32"), "wb") as f:
        f.write(blob.astype("<u4").tobytes())
    with open(os.path.join(OUT, "sleef.json"), "w") as f:
        json.dump({
            "torch": torch.__version__,
            "libsleef": LIBSLEEF,
            "rempitabsp_bits": tab,
            "file": "sleef_sincos.u32",
            "layout": "uint32 float bits; arrays[name] = [offset, length] in uint32; sin/cos of 8-lane vectors sincos_x[8k:8k+8]; pow = torch.pow(pow_x, pow_y)",
            "arrays": index,
        }, f)
        f.write("\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["rope"]:
        os.makedirs(OUT, exist_ok=True)
        gen_rope()
        gen_sleef()
        print("wrote %s (rope, sleef)" % os.path.normpath(OUT))
    elif sys.argv[1:]:
        raise SystemExit("usage: gen_model_goldens.py [rope]")
    else:
        main()
