#!/usr/bin/python3
"""Interop check of qnnkit's PyTorch/.mllm format code against real torch.

Run from the repo root with Debian's python (torch 1.13 + numpy):

    /usr/bin/python3 scripts/interop_formats.py

1. torch writes .pth files (every dtype incl. special floats; transposed,
   sliced, permuted, expanded and shared-storage views; the legacy format;
   other archive prefixes with byteorder/serialization_id records; the R-file
   shape {"R": f64[256,256], "R_v": [f64[64,64]]*4}; nn.Parameter; a storage
   hand-patched to location "cuda:0"; nested containers). Go reads them
   (`convert inspect --dump-json --with-data`) and every value must match
   exactly.
2. Go writes .pth files (scripts/gen_formats pth); torch.load(weights_only=True)
   must give back exactly the object Go described (dict order, OrderedDict,
   list of tensors, 0-dim, bool, int8 [in,out], all dtypes).
3. `convert` turns the bundled model (safetensors, and a pytorch_model.bin
   written by torch from it) into .mllm; a numpy reader checks that every
   tensor equals the source and the order follows converter.py.

Exits non-zero on any failure; the last line is
`interop_formats: N passed, M failed`.
"""
import base64
import collections
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int8: "I8", torch.uint8: "U8", torch.int16: "I16", torch.int32: "I32", torch.int64: "I64",
    torch.bool: "BOOL",
}
TORCH_OF = {v: k for k, v in DTYPES.items()}


def tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def same_tree(py, node, path):
    """Compares a torch-loaded object with a Go JSON tree node."""
    typ = node["type"]
    if isinstance(py, torch.Tensor):
        if typ != "tensor":
            return f"{path}: Go has {typ}, torch has a tensor"
        if DTYPES.get(py.dtype) != node["dtype"]:
            return f"{path}: dtype {node['dtype']} vs {py.dtype}"
        if list(py.shape) != list(node["shape"]):
            return f"{path}: shape {node['shape']} vs {list(py.shape)}"
        if base64.b64decode(node.get("data", "")) != tensor_bytes(py):
            return f"{path}: tensor bytes differ"
        return None
    if isinstance(py, (dict, collections.OrderedDict)):
        want = "ordereddict" if isinstance(py, collections.OrderedDict) else "dict"
        if typ != want:
            return f"{path}: Go has {typ}, torch has {want}"
        keys = list(py.keys())
        if len(keys) != len(node["keys"]):
            return f"{path}: {len(node['keys'])} keys vs {len(keys)}"
        for i, k in enumerate(keys):
            e = same_tree(k, node["keys"][i], f"{path}.key{i}")
            if e:
                return e + " (key order?)"
            e = same_tree(py[k], node["values"][i], f"{path}.{k}")
            if e:
                return e
        return None
    if isinstance(py, (list, tuple)):
        want = "list" if isinstance(py, list) else "tuple"
        if typ != want or len(py) != len(node["items"]):
            return f"{path}: Go has {typ}[{len(node.get('items', []))}], torch has {want}[{len(py)}]"
        for i, x in enumerate(py):
            e = same_tree(x, node["items"][i], f"{path}[{i}]")
            if e:
                return e
        return None
    if py is None:
        return None if typ == "none" else f"{path}: {typ} vs None"
    if isinstance(py, bool):
        return None if typ == "bool" and node["value"] is py else f"{path}: {node} vs {py}"
    if isinstance(py, int):
        return None if typ == "int" and int(node["value"]) == py else f"{path}: {node} vs {py}"
    if isinstance(py, float):
        if typ != "float":
            return f"{path}: {typ} vs float"
        g = float(node["value"])
        return None if (g == py or (math.isnan(g) and math.isnan(py))) else f"{path}: {g} vs {py}"
    if isinstance(py, str):
        return None if typ == "str" and node["value"] == py else f"{path}: {node} vs {py!r}"
    return f"{path}: unexpected python value {type(py)}"


def go_dump(conv, path):
    out = subprocess.run([conv, "inspect", "--dump-json", "--with-data", path], capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip()
    return json.loads(out.stdout), None


def rezip(src, dst, prefix, extra=()):
    """Copies a torch zip under another archive prefix, adding records."""
    zin = zipfile.ZipFile(src)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
        for info in zin.infolist():
            z.writestr(prefix + "/" + info.filename.split("/", 1)[1], zin.read(info.filename))
        for name, data in extra:
            z.writestr(prefix + "/" + name, data)


def patch_location(path, new=b"cuda:0"):
    zin = zipfile.ZipFile(path)
    recs = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    zin.close()
    old = b"X\x03\x00\x00\x00cpu"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in recs:
            if name.endswith("/data.pkl"):
                assert old in data
                data = data.replace(old, b"X" + len(new).to_bytes(4, "little") + new)
            z.writestr(name, data)


def torch_objects():
    g = torch.Generator().manual_seed(7)
    objs = {}
    d = collections.OrderedDict()
    base = torch.randn(6, 5, generator=g)
    for dt in DTYPES:
        if dt == torch.bool:
            d["t_bool"] = base > 0
        elif dt.is_floating_point:
            d["t_" + DTYPES[dt]] = (base * 3).to(dt)
        elif dt == torch.uint8:
            d["t_U8"] = torch.randint(0, 256, (6, 5), generator=g, dtype=torch.int64).to(dt)
        else:
            info = torch.iinfo(dt)
            d["t_" + DTYPES[dt]] = torch.randint(max(info.min, -2**62), min(info.max, 2**62), (6, 5), generator=g, dtype=torch.int64).to(dt)
    special = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"), 1e-40, 6e-8, 65504.0, 3.0e38])
    for dt in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        d["special_" + DTYPES[dt]] = special.to(dt)
    d["f16_all_patterns"] = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16).view(torch.float16)
    objs["dtypes.pth"] = d
    big = torch.arange(4 * 6 * 8, dtype=torch.float32).reshape(4, 6, 8)
    i8 = torch.randint(-128, 128, (32, 48), generator=g, dtype=torch.int8)
    objs["views.pth"] = {
        "transposed": big[0].t(),
        "permuted": big.permute(2, 0, 1),
        "sliced": big[1:3, ::2, 3:7],
        "narrow_offset": big[3, 4],
        "shared_whole": big,
        "shared_row": big[2, 1],
        "expanded": torch.tensor([1.5, -2.0]).expand(3, 2),
        "int8_weight_T": i8.t(),
        "bf16_T": big[1].bfloat16().t(),
        "scalar": torch.tensor(0.125),
        "bool0d": torch.tensor(True),
        "empty": torch.zeros(0, 7, dtype=torch.float16),
    }
    objs["rot.pth"] = {"R": torch.randn(256, 256, generator=g, dtype=torch.float64),
                       "R_v": [torch.randn(64, 64, generator=g, dtype=torch.float64) for _ in range(4)]}
    objs["param.pth"] = torch.nn.Parameter(torch.randn(3, 4, generator=g))
    lin = torch.nn.Linear(4, 3)
    objs["module_state.pth"] = {"model": lin.state_dict(), "_meta": {"epoch": 3}, "param": torch.nn.Parameter(torch.ones(2))}
    objs["containers.pth"] = {
        "od": collections.OrderedDict([("b", torch.ones(1)), ("a", [torch.zeros(2), (1, 2.5, None)])]),
        "scalars": [True, False, 0, -1, 255, 65536, -2**31, 2**40, -2**63, 1.5, -0.0, float("inf"), "ünïcode", None],
        "tuple": (torch.tensor([7], dtype=torch.int32), "x"),
        3: "int key",
    }
    return objs


def part1(conv, tmp):
    print("-- torch writes, Go reads")
    cases = []
    for name, obj in torch_objects().items():
        p = os.path.join(tmp, name)
        torch.save(obj, p)
        cases.append((p, obj))
        lp = os.path.join(tmp, "legacy_" + name)
        torch.save(obj, lp, _use_new_zipfile_serialization=False)
        cases.append((lp, obj))
    src = os.path.join(tmp, "views.pth")
    for prefix, extra in (("archive", [("byteorder", b"little"), (".data/serialization_id", b"1234567890")]), ("weird.name-1", [])):
        p = os.path.join(tmp, f"prefix_{prefix}.pth")
        rezip(src, p, prefix, extra)
        cases.append((p, torch.load(src)))
    cuda = os.path.join(tmp, "rot_cuda.bin")
    shutil.copy(os.path.join(tmp, "rot.pth"), cuda)
    patch_location(cuda)
    try:
        torch.load(cuda)
        check(False, "torch.load of a cuda:0 file without CUDA should fail (spec Q12)")
    except Exception:
        check(True, "")
    cases.append((cuda, torch.load(cuda, map_location="cpu")))
    for p, obj in cases:
        loaded = torch.load(p, map_location="cpu")
        rep, err = go_dump(conv, p)
        if rep is None:
            check(False, f"{os.path.basename(p)}: Go could not read it: {err}")
            continue
        e = same_tree(loaded, rep["root"], os.path.basename(p))
        check(e is None, e)
    # a pickle naming a forbidden global is refused, never run
    evil = os.path.join(tmp, "evil.pth")
    marker = os.path.join(tmp, "pwned")

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    torch.save({"x": Evil()}, evil)
    rep, err = go_dump(conv, evil)
    check(rep is None and "not allowed" in (err or "") and not os.path.exists(marker), f"evil pickle: {err}")
    print(f"   {len(cases)} torch-made files compared")


def part2(tmp):
    print("-- Go writes, torch.load(weights_only=True) reads")
    out = os.path.join(tmp, "gofiles")
    subprocess.run(["go", "run", "./scripts/gen_formats", "pth", out], check=True, cwd=ROOT)
    n = 0
    for name in sorted(os.listdir(out)):
        if not name.endswith(".pth"):
            continue
        n += 1
        p = os.path.join(out, name)
        try:
            obj = torch.load(p, weights_only=True)
        except Exception as e:  # noqa: BLE001
            check(False, f"{name}: torch.load(weights_only=True) failed: {e}")
            continue
        want = json.load(open(p + ".expect.json"))
        e = same_tree(obj, want, name)
        check(e is None, e)
        if name == "go_qnn.pth":
            w = obj["a.weight"]
            check(w.dtype == torch.int8 and list(w.shape) == [3, 2] and w.is_contiguous()
                  and w.tolist() == [[50, 0], [-127, 2], [0, -2]], f"go_qnn int8 [in,out] weight {w}")
            check(obj["a.clip_input"].dim() == 0 and obj["a.clip_input"].item() is True, "0-dim bool")
        if name == "go_dict.pth":
            check(type(obj) is dict and list(obj) == ["z.weight", "a.bias", "m"], f"go_dict order {list(obj)}")
        if name == "go_rot.pth":
            check(isinstance(obj["R_v"], list) and len(obj["R_v"]) == 3 and obj["R"].dtype == torch.float64, "go_rot shape")
    print(f"   {n} Go-made files compared")


def read_mllm(path):
    """Independent numpy reader of the .mllm v1 layout (spec §6.4)."""
    b = open(path, "rb").read()
    magic, isz = struct.unpack_from("<iQ", b, 0)
    assert magic == 20012, magic
    p, out = 12, []
    while p < 12 + isz:
        (n,) = struct.unpack_from("<i", b, p)
        name = b[p + 4:p + 4 + n].decode()
        size, off, dt = struct.unpack_from("<QQi", b, p + 4 + n)
        out.append((name, dt, b[off:off + size]))
        p += 4 + n + 20
    assert p == 12 + isz
    return out


def read_safetensors(path):
    b = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", b, 0)
    hdr = json.loads(b[8:8 + n])
    hdr.pop("__metadata__", None)
    data = b[8 + n:]
    out = collections.OrderedDict()
    for name, e in sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        s, t = e["data_offsets"]
        raw = data[s:t]
        if e["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype("<u4") << 16).view("<f4")
        else:
            arr = np.frombuffer(raw, dtype={"F32": "<f4", "F16": "<f2", "I8": "i1"}[e["dtype"]]).astype("<f4")
        out[name] = (e["dtype"], e["shape"], arr)
    return out


def part3(conv, tmp):
    print("-- convert the bundled model, check with numpy")
    st = os.path.join(ROOT, "testdata", "tinyqwen2", "model.safetensors")
    src = read_safetensors(st)
    out = os.path.join(tmp, "tiny_st.mllm")
    subprocess.run([conv, "--quiet", f"--input_model={st}", f"--output_model={out}", "--type=safetensor"], check=True, stdout=subprocess.DEVNULL)
    got = read_mllm(out)
    check([g[0] for g in got] == sorted(src), "safetensor order is not alphabetical")
    for name, dt, raw in got:
        _, shape, arr = src[name]
        check(dt == 0 and np.frombuffer(raw, dtype="<f4").tobytes() == arr.tobytes(), f"{name}: values differ from the safetensors source")
    # a pytorch_model.bin written by torch from the same tensors, in file order
    sd = collections.OrderedDict()
    for name, (dtype, shape, arr) in src.items():
        raw_u16 = np.frombuffer(arr.astype("<f4").tobytes(), dtype="<u4") >> 16
        sd[name] = torch.from_numpy(raw_u16.astype(np.int16)).view(torch.bfloat16).reshape(shape)
    d = os.path.join(tmp, "tinybin")
    os.makedirs(d)
    binp = os.path.join(d, "pytorch_model.bin")
    torch.save(sd, binp)
    out2 = os.path.join(tmp, "tiny_bin.mllm")
    subprocess.run([conv, "--quiet", f"--input_model={binp}", f"--output_model={out2}", "--type=torch"], check=True, stdout=subprocess.DEVNULL)
    got2 = read_mllm(out2)
    check([g[0] for g in got2] == list(sd), "torch order is not insertion order")
    for name, dt, raw in got2:
        want = sd[name].float().numpy().tobytes()
        check(dt == 0 and raw == want, f"{name}: .bin conversion differs from torch's .float()")
    # sharded .bin index (weight_map order) gives the same bytes per tensor
    names = list(sd)
    half = len(names) // 2
    shards = {"pytorch_model-00001-of-00002.bin": names[:half], "pytorch_model-00002-of-00002.bin": names[half:]}
    sd2 = os.path.join(tmp, "sharded")
    os.makedirs(sd2)
    wm = collections.OrderedDict()
    for fn, ks in shards.items():
        torch.save(collections.OrderedDict((k, sd[k]) for k in ks), os.path.join(sd2, fn))
    for k in reversed(names):
        wm[k] = next(fn for fn, ks in shards.items() if k in ks)
    json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(sd2, "pytorch_model.bin.index.json"), "w"))
    out3 = os.path.join(tmp, "tiny_idx.mllm")
    subprocess.run([conv, "--quiet", f"--input_model={os.path.join(sd2, 'pytorch_model.bin.index.json')}", f"--output_model={out3}"], check=True, stdout=subprocess.DEVNULL)
    got3 = read_mllm(out3)
    check([g[0] for g in got3] == list(wm), "index order is not weight_map order")
    check({g[0]: g[2] for g in got3} == {g[0]: g[2] for g in got2}, "sharded conversion differs")
    # int8 / bool / uint8 / f64 / i64 / 0-dim through torch files (spec §6.3)
    q = collections.OrderedDict([
        ("w", torch.tensor([[50, -127, 0], [0, 2, -2]], dtype=torch.int8).t()),
        ("b", torch.tensor([True, False])), ("u", torch.tensor([0, 255], dtype=torch.uint8)),
        ("d", torch.tensor([0.1, 1e300], dtype=torch.float64)), ("i", torch.tensor([2**24 + 1, -3])),
        ("s", torch.tensor(0.01)), ("h", torch.tensor([1e-7, 70000.0]).half()),
    ])
    qp = os.path.join(tmp, "codes.pth")
    torch.save(q, qp)
    out4 = os.path.join(tmp, "codes.mllm")
    subprocess.run([conv, "--quiet", f"--input_model={qp}", f"--output_model={out4}"], check=True, stdout=subprocess.DEVNULL)
    for name, dt, raw in read_mllm(out4):
        t = q[name]
        if t.dtype in (torch.int8, torch.bool, torch.uint8):
            want_dt, want = (31 if t.dtype == torch.uint8 else 16), t.contiguous().numpy().tobytes()
        else:
            want_dt, want = 0, t.float().contiguous().numpy().tobytes()
        check(dt == want_dt and raw == want, f"codes.pth {name}: dtype {dt} bytes {raw.hex()} want {want_dt} {want.hex()}")


def main():
    tmp = tempfile.mkdtemp(prefix="interop_formats_")
    try:
        conv = os.path.join(tmp, "convert")
        subprocess.run(["go", "build", "-o", conv, "./cmd/convert"], check=True, cwd=ROOT)
        part1(conv, tmp)
        part2(tmp)
        part3(conv, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"interop_formats: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
