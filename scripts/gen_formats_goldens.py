#!/usr/bin/python3
"""Writes the small torch-made fixtures under testdata/formats/ used by the
Go tests of pkg/pth, pkg/checkpoint and cmd/convert (go test never runs
Python). Run from the repo root with Debian's /usr/bin/python3 (torch 1.13):

    /usr/bin/python3 scripts/gen_formats_goldens.py

Files:
  tv10.pth         spec §7 TV10 input (insertion order, transposed int8 view,
                   0-dim f32 and bool tensors), zip format
  tv10_legacy.pth  the same, legacy (non-zip) format
  dtypes.pth       one small tensor per supported dtype + views
                   (transposed, sliced, shared storage) + nested containers
  rot_cuda.pth     an R-file-shaped dict {"R": f64[8,8], "R_v": [f64[4,4]]*2}
                   whose storages are tagged "cuda:0" (location patched)
  param.pth        a bare nn.Parameter
  evil.pth         a zip whose data.pkl calls os.system (must be rejected)
"""
import collections
import io
import os
import pickle
import sys
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "formats")


def tv10():
    q = torch.tensor([[50, -127, 0], [0, 2, -2]], dtype=torch.int8)
    return {
        "a.weight": q.t(),  # transposed view [3,2] of a [2,3] storage
        "a.weight.scale": torch.tensor(0.01, dtype=torch.float32),
        "a.bias": torch.tensor([1.0, -2.0]),
        "a.input_scale": torch.tensor(3.5),
        "a.clip_input": torch.tensor(True),
        "a.clip_output": torch.tensor(False),
    }


def dtypes():
    base = torch.arange(-6, 6, dtype=torch.float64).reshape(3, 4) / 4
    d = collections.OrderedDict()
    d["f32"] = base.float()
    d["f16"] = base.half()
    d["bf16"] = base.bfloat16()
    d["f64"] = base.clone()
    d["i8"] = (base * 4).to(torch.int8)
    d["u8"] = (base * 4 + 6).to(torch.uint8)
    d["i16"] = (base * 4000).to(torch.int16)
    d["i32"] = (base * 4e8).to(torch.int32)
    d["i64"] = (base * 4e15).to(torch.int64)
    d["bool"] = base > 0
    d["scalar"] = torch.tensor(2.5, dtype=torch.float64)
    big = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    d["transposed"] = big.transpose(0, 2)
    d["sliced"] = big[:, 1:, ::2]
    d["shared_a"] = big[0]
    d["shared_b"] = big[1, 2]
    d["empty"] = torch.zeros(0, 3)
    d["nested"] = {"x": torch.tensor([1, 2], dtype=torch.int32), "n": 7, "s": "str", "none": None,
                   "t": (1, 2.5, True), "l": [torch.tensor([3.0]), False]}
    return d


def patch_location(path, old=b"cpu", new=b"cuda:0"):
    """Rewrites a torch zip so every storage location string is `new`."""
    zin = zipfile.ZipFile(path)
    recs = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    zin.close()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in recs:
            if name.endswith("/data.pkl"):
                o = b"X" + len(old).to_bytes(4, "little") + old
                n = b"X" + len(new).to_bytes(4, "little") + new
                assert o in data
                data = data.replace(o, n)
            z.writestr(name, data)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.save(tv10(), os.path.join(OUT, "tv10.pth"))
    torch.save(tv10(), os.path.join(OUT, "tv10_legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(dtypes(), os.path.join(OUT, "dtypes.pth"))
    g = torch.Generator().manual_seed(0)
    rot = {"R": torch.randn(8, 8, generator=g, dtype=torch.float64),
           "R_v": [torch.randn(4, 4, generator=g, dtype=torch.float64) for _ in range(2)]}
    p = os.path.join(OUT, "rot_cuda.pth")
    torch.save(rot, p)
    patch_location(p)
    torch.save(torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]])), os.path.join(OUT, "param.pth"))
    buf = io.BytesIO()
    pickle.dump({"x": Evil()}, buf, protocol=2)
    with zipfile.ZipFile(os.path.join(OUT, "evil.pth"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("evil/data.pkl", buf.getvalue())
        z.writestr("evil/version", b"3\n")
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    sys.exit(main())
