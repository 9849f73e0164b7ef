#!/usr/bin/python3
"""Interop check for pkg/rotate against torch (spec §3).

Run from anywhere with Debian's python (torch 1.13 + numpy):
    /usr/bin/python3 scripts/interop_rotate.py

Checks:
  1. Hadamard base tables rebuilt here from spec Appendix A match the spec's
     SHA-256 digests (an independent Python construction).
  2. Go-written R files (sizes covering every base order K) load with
     torch.load(weights_only=True) and equal diag(s)·Mᵀ/d built here, with
     d = torch.tensor(n).sqrt() exactly as mllm computes it.
  3. Go draws R/R_v for the bundled tinyqwen2 model and rotates it; torch
     rotates the same model with the same R file following spec §3.4
     literally (float64 matmuls on CPU, one float32 rounding per step,
     block_diag for R_v). Every element must agree within 1 ulp; the
     1-ulp count is reported. Done for Go's Walsh–Hadamard path and its
     dense path, with 1 and 2 goroutines (the bytes must not change).
  4. R files written by torch (zip and legacy format, R_v as a list and as a
     single shared tensor) load in Go; Go's rotation with them matches
     torch's within 1 ulp, and Go's re-saved file loads in torch and is equal.
  5. If the shared mllm golden (tinyqwen2-rot-f32.mllm, made by mllm's own
     tools from R-seed3.bin) is present: Go's rotation with
     testdata/rotate/R-seed3.bin equals it within 1 ulp.

Ends with `interop_rotate: N passed, M failed`; exits non-zero on failure.
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(REPO, "testdata", "tinyqwen2")
RSEED3 = os.path.join(REPO, "testdata", "rotate", "R-seed3.bin")
# mllm's own f32 rotated file (made with R-seed3.bin), copied into testdata.
GOLDEN = os.path.join(REPO, "testdata", "quant", "tinyqwen2-rot-f32.mllm")

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}" + (f": {detail}" if detail else ""))
    else:
        failed += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))


# ---------------------------------------------------------------- tables
def chi(q):
    c = [-1] * q
    c[0] = 0
    for x in range(1, q):
        c[x * x % q] = 1
    return c


def paley1(q):
    c = chi(q)
    k = q + 1
    h = np.zeros((k, k), dtype=np.int64)
    for i in range(k):
        for j in range(k):
            if i == 0 and j == 0:
                s = 0
            elif i == 0:
                s = -1
            elif j == 0:
                s = 1
            else:
                s = c[(i - j) % q]
            h[i, j] = s + (1 if i == j else 0)
    return h


def paley2(q):
    c = chi(q)
    m = q + 1
    C = np.zeros((m, m), dtype=np.int64)
    for i in range(m):
        for j in range(m):
            if i == 0 and j == 0:
                C[i, j] = 0
            elif i == 0 or j == 0:
                C[i, j] = 1
            else:
                C[i, j] = c[(i - j) % q]
    I = np.eye(m, dtype=np.int64)
    return np.block([[C + I, C - I], [C - I, -C - I]])


WILLIAMSON = {
    52: ["+-+--++++--+-", "+---++++++---", "++-+--++--+-+", "+----+--+----"],
    156: ["+++--+-+-----+--++----++--+-----+-+--++", "++++---+--++----+-+--+-+----++--+---+++",
          "+++--++-+---+-+--+----+--+-+---+-++--++", "+---++-+-+-----+++-++-+++-----+-+-++---"],
    172: ["+---++--++++-+-+++-++--++-+++-+-++++--++---", "++-++++++----+-+--++-++-++--+-+----++++++-+",
          "+++-+-++--+-+-++++-+----+-++++-+-+--++-+-++", "++---++++-+--+--++--------++--+--+-++++---+"],
}


def williamson(k):
    m = k // 4
    circ = []
    for r in WILLIAMSON[k]:
        v = [1 if ch == "+" else -1 for ch in r]
        circ.append(np.array([[v[(j - i) % m] for j in range(m)] for i in range(m)], dtype=np.int64))
    A, B, C, D = circ
    return np.block([[A, B, C, D], [-B, A, -D, C], [-C, D, A, -B], [-D, -C, B, A]])


def base_table(k):
    if k in (12, 20, 60, 108, 140):
        return paley1(k - 1)
    if k in (28, 36):
        return paley2(k // 2 - 1)
    if k == 40:
        h = paley1(19)
        return np.block([[h, h], [h, -h]])
    return williamson(k)


DIGESTS = {
    12: "78bb693d59202c7aa2945ec60660b234948cea70922c74ddc6c92c9af318c739",
    20: "52927d488d55a58ea56ed31e2d5eaf9b6538f6f96ebf0cd3e8645ab19d7da1ce",
    28: "85eb455f3cf7819c9bcb2cf569782a4f991b8b2fb4a9a24b187be0ce1fa71b24",
    36: "31d5cec22deb88790cb6bbbcbed7efcf3c50a94a0bde63b670cdba5b6a693841",
    40: "8cd17c4fce4c2af2e3a728959ddc33324513217b6c597cfdb6d9d80fd6fe693e",
    52: "d29c4ee2fe7d69eda4a1b478847d6e81b4870875256dfcbaa1c864a2632ba192",
    60: "f5d7048432fd3a51f035a3fe9e8ca76eb56993c75aaf63333c51f3b4141849a7",
    108: "96827ff505b4d4beb2ea34aa9d32b7238f2dae40cb3ee508533b543a29ba6838",
    140: "8559fcbfa2a1bc356ab6323bb3d7fef5069aa86b81eb616f1a0c9c68b3444c1d",
    156: "d8a01bc66af9184ddaf028c8a22946c701fd0207a10a2c4e0fb1f85d46b43abd",
    172: "690f0f133fd9b3a0c65769f1b28ef28644fc40498189be933df039532aceebd4",
}
ORDER = [172, 156, 140, 108, 60, 52, 36, 28, 40, 20, 12]


def get_hadK(n):
    for k in ORDER:
        if n % k == 0:
            q = n // k
            assert q & (q - 1) == 0
            return base_table(k), k
    assert n & (n - 1) == 0
    return None, 1


def sylvester(m):
    h = np.ones((1, 1), dtype=np.int64)
    while h.shape[0] < m:
        h = np.block([[h, h], [h, -h]])
    return h


def M_matrix(n):
    had, k = get_hadK(n)
    H = sylvester(n // k)
    return H if had is None else np.kron(had, H)


def mllm_d(n):
    # hadamard_utils: X / torch.tensor(n).sqrt() — an int64 tensor's sqrt is float32.
    return float(torch.tensor(n).sqrt())


def random_hadamard_torch(n, gen):
    s = torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1
    M = torch.from_numpy(M_matrix(n).astype(np.float64))
    return (torch.diag(s) @ M.T) / torch.tensor(n).sqrt()


# ---------------------------------------------------------------- model io
def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[base + a:base + b]
        if info["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype=np.float32)
        else:
            raise ValueError(f"{name}: dtype {info['dtype']}")
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    return out


def write_synthetic(dirpath, hidden, heads, kv, inter, layers, vocab, tied, seed):
    """A random Qwen2 model in HF layout (config.json + F32 safetensors)."""
    os.makedirs(dirpath, exist_ok=True)
    cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": hidden,
           "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
           "num_key_value_heads": kv, "vocab_size": vocab, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
           "tie_word_embeddings": tied, "max_position_embeddings": 256, "hidden_act": "silu"}
    g = torch.Generator().manual_seed(seed)
    hd = hidden // heads
    t = {}

    def rnd(*shape, scale=0.05, offset=0.0):
        return (torch.randn(*shape, generator=g) * scale + offset).to(torch.float32)

    t["model.embed_tokens.weight"] = rnd(vocab, hidden, scale=1.0)
    for l in range(layers):
        p = f"model.layers.{l}."
        t[p + "self_attn.q_proj.weight"] = rnd(heads * hd, hidden)
        t[p + "self_attn.q_proj.bias"] = rnd(heads * hd, scale=0.5)
        t[p + "self_attn.k_proj.weight"] = rnd(kv * hd, hidden)
        t[p + "self_attn.k_proj.bias"] = rnd(kv * hd, scale=0.5)
        t[p + "self_attn.v_proj.weight"] = rnd(kv * hd, hidden)
        t[p + "self_attn.v_proj.bias"] = rnd(kv * hd, scale=0.5)
        t[p + "self_attn.o_proj.weight"] = rnd(hidden, heads * hd)
        t[p + "mlp.gate_proj.weight"] = rnd(inter, hidden)
        t[p + "mlp.up_proj.weight"] = rnd(inter, hidden)
        t[p + "mlp.down_proj.weight"] = rnd(hidden, inter)
        t[p + "input_layernorm.weight"] = rnd(hidden, scale=0.3, offset=1.0)
        t[p + "post_attention_layernorm.weight"] = rnd(hidden, scale=0.3, offset=1.0)
    t["model.norm.weight"] = rnd(hidden, scale=0.3, offset=1.0)
    if not tied:
        t["lm_head.weight"] = rnd(vocab, hidden)
    header, blobs, off = {}, [], 0
    for k, v in t.items():
        b = v.numpy().tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(dirpath, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    with open(os.path.join(dirpath, "config.json"), "w") as f:
        json.dump(cfg, f)


def torch_rotate(sd, cfg, R, R_v):
    """spec §3.4, literally: untie, fuse norms, rotate (float64 products)."""
    sd = {k: v.clone() for k, v in sd.items()}
    L = cfg["num_hidden_layers"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    if "lm_head.weight" not in sd or cfg.get("tie_word_embeddings"):
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"].clone()
    if isinstance(R_v, torch.Tensor):
        R_v = [R_v] * L
    R = R.to(torch.float64)

    def fuse(norm, names):
        g = sd[norm]
        for n in names:
            W = sd[n]
            sd[n] = (W.to(torch.float64) * g.to(torch.float64)).to(torch.float32)
        sd[norm] = torch.ones_like(g)

    for l in range(L):
        p = f"model.layers.{l}."
        fuse(p + "input_layernorm.weight", [p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"])
        fuse(p + "post_attention_layernorm.weight", [p + "mlp.up_proj.weight", p + "mlp.gate_proj.weight"])
    fuse("model.norm.weight", ["lm_head.weight"])

    def rotate_input(name, A):  # W ← W·Aᵀ
        sd[name] = (sd[name].to(torch.float64) @ A.T.to(torch.float64)).to(torch.float32)

    def rotate_output(name, A, bias=None):  # W ← Aᵀ·W, b ← b·A
        sd[name] = (A.T.to(torch.float64) @ sd[name].to(torch.float64)).to(torch.float32)
        if bias is not None and bias in sd:
            sd[bias] = (sd[bias].to(torch.float64) @ A.to(torch.float64)).to(torch.float32)

    E = "model.embed_tokens.weight"
    sd[E] = (sd[E].to(torch.float64) @ R).to(torch.float32)
    for l in range(L):
        p = f"model.layers.{l}."
        for x in ("q", "k", "v"):
            rotate_input(p + f"self_attn.{x}_proj.weight", R.T)
        rotate_output(p + "self_attn.o_proj.weight", R, p + "self_attn.o_proj.bias")
        rv = R_v[l].to(torch.float64)
        rotate_output(p + "self_attn.v_proj.weight", torch.block_diag(*([rv] * nkv)), p + "self_attn.v_proj.bias")
        rotate_input(p + "self_attn.o_proj.weight", torch.block_diag(*([rv] * nh)).T)
        rotate_input(p + "mlp.up_proj.weight", R.T)
        rotate_input(p + "mlp.gate_proj.weight", R.T)
        rotate_output(p + "mlp.down_proj.weight", R, p + "mlp.down_proj.bias")
    rotate_input("lm_head.weight", R.T)
    return sd


def ulp_compare(ours, ref, name):
    """Returns (elements, 1-ulp count, max ulp, first bad) over common keys."""
    n = ones = maxu = 0
    bad = None
    keys = list(ref.keys())
    if sorted(keys) != sorted(ours.keys()):
        return 0, 0, -1, f"{name}: key sets differ: {sorted(set(keys) ^ set(ours.keys()))[:5]}"
    for k in keys:
        a = ours[k].contiguous().view(-1).numpy().astype(np.float32)
        b = ref[k].contiguous().view(-1).numpy().astype(np.float32)
        if a.shape != b.shape:
            return 0, 0, -1, f"{k}: shape {a.shape} vs {b.shape}"
        ia = a.view(np.int32).astype(np.int64)
        ib = b.view(np.int32).astype(np.int64)
        ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
        ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
        d = np.abs(ia - ib)
        n += d.size
        ones += int((d == 1).sum())
        m = int(d.max()) if d.size else 0
        if m > maxu:
            maxu = m
            if m > 1 and bad is None:
                i = int(d.argmax())
                bad = f"{k}[{i}]: {a[i]!r} vs {b[i]!r}"
    return n, ones, maxu, bad


def load_mllm_v1(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, isz = struct.unpack("<iQ", data[:12])
    assert magic == 20012, magic
    off = 12
    out = {}
    while off < 12 + isz:
        (ln,) = struct.unpack("<i", data[off:off + 4])
        name = data[off + 4:off + 4 + ln].decode()
        dlen, doff, dt = struct.unpack("<QQi", data[off + 4 + ln:off + 4 + ln + 20])
        off += 4 + ln + 20
        if dt == 0:
            out[name] = torch.from_numpy(np.frombuffer(data[doff:doff + dlen], dtype=np.float32).copy())
    return out


def main():
    go_tool = None
    with tempfile.TemporaryDirectory() as tmp:
        go_tool = os.path.join(tmp, "interopgen")
        subprocess.run(["go", "build", "-o", go_tool, "./pkg/rotate/internal/interopgen"], cwd=REPO, check=True)

        def go(*args):
            r = subprocess.run([go_tool, *args], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"interopgen {' '.join(args)}: {r.stderr.strip()}")

        # 1. tables
        for k in ORDER:
            t = base_table(k)
            s = "\n".join("".join("+" if v > 0 else "-" for v in row) for row in t)
            ok = hashlib.sha256(s.encode()).hexdigest() == DIGESTS[k] and (t @ t.T == k * np.eye(k)).all()
            check(f"python had{k} digest and H·Hᵀ=KI", ok)

        # 2. Go R files for every base order
        sizes = [8, 12, 24, 40, 56, 72, 80, 104, 112, 120, 216, 240, 280, 312, 344, 896, 1536]
        go("sizes", "-seed", "9", "-dir", tmp, *map(str, sizes))
        for n in sizes:
            d = torch.load(os.path.join(tmp, f"R-{n}.bin"), weights_only=True)
            R = d["R"]
            M = torch.from_numpy(M_matrix(n).astype(np.float64))
            dd = torch.tensor(n).sqrt()
            s = torch.sign(R[:, 0] * M[0, :])  # R[i][0] = s_i·M[0][i]/d
            want = (torch.diag(s) @ M.T) / dd
            ok = d["R_v"] is None and R.dtype == torch.float64 and tuple(R.shape) == (n, n) and torch.equal(R, want)
            check(f"Go R file n={n} (K={get_hadK(n)[1]}) == diag(s)·Mᵀ/d, d={float(dd)!r}", ok)

        # 3. Go-drawn R, Go rotation vs torch rotation: the bundled model
        # (n=256, head_dim 64: 1/d is a power of two) and synthetic models
        # whose divisors are inexact (hidden 384 = 12·32 with head_dim 32;
        # hidden 512 with head_dim 128; hidden 448 = 28·16 with head_dim 56).
        models = [("tinyqwen2", MODEL)]
        for name, dims in [("syn384", (384, 12, 4, 1024, 2, 1000, True, 1)),
                           ("syn512", (512, 4, 2, 1376, 2, 700, False, 2)),
                           ("syn448", (448, 8, 2, 1200, 1, 500, True, 3))]:
            d = os.path.join(tmp, name)
            write_synthetic(d, *dims)
            models.append((name, d))
        for mname, mdir in models:
            cfg = json.load(open(os.path.join(mdir, "config.json")))
            sd = load_safetensors(os.path.join(mdir, "model.safetensors"))
            rfile = os.path.join(tmp, f"R-go-{mname}.bin")
            variants = [("wht", ["-workers", "1"]), ("wht-2threads", ["-workers", "2"]), ("dense", ["-dense"])]
            outs = {}
            for i, (name, extra) in enumerate(variants):
                out = os.path.join(tmp, f"rot-{mname}-{name}.pth")
                if i == 0:
                    go("gen", "-seed", "5", "-model", mdir, "-rfile", rfile, "-out", out, *extra)
                else:
                    go("apply", "-rfile", rfile, "-model", mdir, "-out", out, *extra)
                outs[name] = out
            rd = torch.load(rfile, weights_only=True)
            hid, hd, L = cfg["hidden_size"], cfg["hidden_size"] // cfg["num_attention_heads"], cfg["num_hidden_layers"]
            check(f"{mname}: Go R file: R f64 [{hid},{hid}], R_v list of {L} f64 [{hd},{hd}]",
                  rd["R"].dtype == torch.float64 and tuple(rd["R"].shape) == (hid, hid) and isinstance(rd["R_v"], list)
                  and len(rd["R_v"]) == L and all(v.dtype == torch.float64 and tuple(v.shape) == (hd, hd) for v in rd["R_v"]))
            ref = torch_rotate(sd, cfg, rd["R"], rd["R_v"])
            go_sd = {name: torch.load(p, weights_only=True) for name, p in outs.items()}
            for name in outs:
                n, ones, maxu, bad = ulp_compare(go_sd[name], ref, name)
                check(f"{mname}: Go ({name}) vs torch rotation, Go-drawn R: {n} elements within 1 ulp",
                      maxu <= 1 and n > 0, f"{ones} differ by 1 ulp" + (f"; {bad}" if bad else ""))
            same = all(torch.equal(go_sd["wht"][k], go_sd["wht-2threads"][k]) for k in go_sd["wht"])
            check(f"{mname}: Go rotation bytes identical with 1 and 2 goroutines", same)
            n, ones, maxu, bad = ulp_compare(go_sd["wht"], go_sd["dense"], "wht-vs-dense")
            check(f"{mname}: Go WHT vs Go dense: {n} elements within 1 ulp", maxu <= 1, f"{ones} differ by 1 ulp")

        cfg = json.load(open(os.path.join(MODEL, "config.json")))
        sd = load_safetensors(os.path.join(MODEL, "model.safetensors"))

        # 4. torch-written R files load in Go
        gen = torch.Generator().manual_seed(1234)
        R = random_hadamard_torch(256, gen)
        R_v = [random_hadamard_torch(64, gen) for _ in range(4)]
        cases = [
            ("zip-list", {"R": R, "R_v": R_v}, True),
            ("legacy-list", {"R": R, "R_v": R_v}, False),
            ("zip-shared", {"R": R, "R_v": R_v[2]}, True),
        ]
        for name, obj, zipfmt in cases:
            p = os.path.join(tmp, f"R-torch-{name}.bin")
            torch.save(obj, p, _use_new_zipfile_serialization=zipfmt)
            out = os.path.join(tmp, f"rot-torch-{name}.pth")
            back = os.path.join(tmp, f"R-torch-{name}-resaved.bin")
            try:
                go("apply", "-rfile", p, "-model", MODEL, "-out", out, "-resave", back)
            except RuntimeError as e:
                check(f"torch R file ({name}) loads in Go", False, str(e))
                continue
            check(f"torch R file ({name}) loads in Go", True)
            ref = torch_rotate(sd, cfg, obj["R"], obj["R_v"])
            n, ones, maxu, bad = ulp_compare(torch.load(out, weights_only=True), ref, name)
            check(f"Go vs torch rotation, torch R file ({name}): {n} elements within 1 ulp",
                  maxu <= 1, f"{ones} differ by 1 ulp" + (f"; {bad}" if bad else ""))
            rb = torch.load(back, weights_only=True)
            if isinstance(obj["R_v"], list):
                eq = isinstance(rb["R_v"], list) and len(rb["R_v"]) == len(obj["R_v"]) and all(
                    torch.equal(a, b) for a, b in zip(rb["R_v"], obj["R_v"]))
            else:
                eq = isinstance(rb["R_v"], torch.Tensor) and torch.equal(rb["R_v"], obj["R_v"])
            check(f"Go re-saved R file ({name}) loads in torch (weights_only) and is equal",
                  eq and torch.equal(rb["R"], obj["R"]))

        # 5. mllm's own rotated model (R-seed3.bin)
        if os.path.exists(GOLDEN):
            out = os.path.join(tmp, "rot-seed3.pth")
            go("apply", "-rfile", RSEED3, "-model", MODEL, "-out", out)
            ours = torch.load(out, weights_only=True)
            gold = load_mllm_v1(GOLDEN)
            common = {k: gold[k] for k in ours if k in gold}
            missing = [k for k in ours if k not in gold]
            n, ones, maxu, bad = ulp_compare({k: ours[k].reshape(-1) for k in common}, common, "mllm")
            check(f"Go rotation with R-seed3.bin vs mllm's tinyqwen2-rot-f32.mllm: {n} elements within 1 ulp",
                  maxu <= 1 and not missing and n > 0,
                  f"{ones} differ by 1 ulp" + (f"; missing {missing[:3]}" if missing else "") + (f"; {bad}" if bad else ""))
        else:
            print(f"note: {GOLDEN} not present, mllm golden comparison not run")

    print(f"interop_rotate: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # a crash is a failure, still reported on the last line
        import traceback
        traceback.print_exc()
        failed += 1
        print(f"interop_rotate: {passed} passed, {failed} failed")
        sys.exit(1)
