#!/usr/bin/python3
"""Interop check of exportqnn / exportrot against torch (scripts/ref_export_qnn.py).

On the bundled model (testdata/tinyqwen2) rotated with testdata/rotate/R-seed3.bin
and the synthetic scale JSON testdata/export/tinyqwen2-scales.json:

1. exportqnn's .pth (torch.load(weights_only=True)) equals the torch reference
   of export_qnn_model.py: same keys in the same order, every tensor the same
   dtype, shape and bits. Run for the default CUDA scale, --scale-true-div,
   and a clip_all + no_clip_input + head_layers configuration. The printed clip
   counters are compared too.
2. exportqnn's .mllm equals what converter.py's rules (int8/bool → code 16,
   floats → F32 code 0, C order), applied with numpy to the torch-loaded .pth,
   produce; and an independent numpy parser of the .mllm agrees key by key.
3. exportrot's .pth equals the reference export_rotate_model.py state dict
   bit for bit, and exportrot's .mllm equals mllm's own f32 file
   (testdata/quant/tinyqwen2-rot-f32.mllm) byte for byte.
4. When bin/convert exists, `convert` of our .pth gives our .mllm.

Uses bin/exportqnn and bin/exportrot (make build; $QNNKIT_BIN overrides the
folder), or builds them with go.
Ends with "interop_export: N passed, M failed"; exits non-zero on failure.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PY = sys.executable
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)
    return ok


BIN = os.environ.get("QNNKIT_BIN", os.path.join(ROOT, "bin"))


def binary(name, tmp):
    p = os.path.join(BIN, name)
    if os.path.exists(p):
        return p
    out = os.path.join(tmp, name)
    subprocess.run(["go", "build", "-o", out, "./cmd/" + name], cwd=ROOT, check=True)
    return out


def config(tmp, name, out, **export):
    mc = {
        "model_type": "qwen2",
        "tokenizer_name": os.path.join(ROOT, "testdata/tinyqwen2"),
        "model_name": os.path.join(ROOT, "testdata/tinyqwen2"),
        "online_rotation": True,
        "R_path": os.path.join(ROOT, "testdata/rotate/R-seed3.bin"),
    }
    emc = dict(mc)
    emc.update(export.pop("model_config", {}))
    ec = {
        "scale_file": os.path.join(ROOT, "testdata/export/tinyqwen2-scales.json"),
        "output_model": out,
        "quant_bias": False,
        "model_config": emc,
    }
    ec.update(export)
    cfg = {
        "profile_config": {
            "dataset_path": os.path.join(ROOT, "testdata/calib"),
            "output_path": os.path.join(tmp, "unused-scales.json"),
            "num_samples": 2,
            "no_bias": True,
            "model_config": mc,
        },
        "export_config": ec,
    }
    p = os.path.join(tmp, name + ".json")
    with open(p, "w") as f:
        json.dump(cfg, f, indent=2)
    return p


def bits(t):
    t = t.contiguous().reshape(-1)
    if t.dtype == torch.float32:
        return t.view(torch.int32)
    return t


def compare_state(ours, ref, what):
    ok = check(list(ours) == list(ref), "%s: key order differs (%d vs %d keys)" % (what, len(ours), len(ref)))
    if not ok:
        for i, (a, b) in enumerate(zip(ours, ref)):
            if a != b:
                print("  first difference at %d: %s vs %s" % (i, a, b))
                break
    for k in ref:
        if k not in ours:
            continue
        a, b = ours[k], ref[k]
        same = a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape) and torch.equal(bits(a), bits(b))
        if not check(same, "%s: %s differs (ours %s %s, ref %s %s)" % (what, k, a.dtype, tuple(a.shape), b.dtype, tuple(b.shape))):
            if a.shape == b.shape:
                d = (a.double() - b.double()).abs()
                print("  %d elements differ, max |diff| %g" % (int((d > 0).sum()), float(d.max())))


def converter_bytes(sd):
    """converter.py (§6.3-6.4) applied to a state dict, with numpy."""
    names, blobs, codes = [], [], []
    for k, t in sd.items():
        if k.startswith("_"):
            continue
        if t.dtype in (torch.int8, torch.bool):
            a, code = t.contiguous().numpy().astype(np.int8), 16
        elif t.dtype == torch.uint8:
            a, code = t.contiguous().numpy(), 31
        else:
            a, code = t.float().contiguous().numpy().astype("<f4"), 0
        names.append(k.replace("_weight", ".weight").replace("_bias", ".bias"))
        blobs.append(np.ascontiguousarray(a).tobytes())
        codes.append(code)
    isz = sum(4 + len(n) + 8 + 8 + 4 for n in names)
    head = struct.pack("<iQ", 20012, isz)
    off = 12 + isz
    index = b""
    for n, b, c in zip(names, blobs, codes):
        index += struct.pack("<i", len(n)) + n.encode() + struct.pack("<QQi", len(b), off, c)
        off += len(b)
    return head + index + b"".join(blobs)


def parse_mllm(data):
    magic, isz = struct.unpack_from("<iQ", data, 0)
    assert magic == 20012
    p, out = 12, []
    while p < 12 + isz:
        (nl,) = struct.unpack_from("<i", data, p)
        name = data[p + 4:p + 4 + nl].decode()
        size, off, code = struct.unpack_from("<QQi", data, p + 4 + nl)
        out.append((name, code, data[off:off + size]))
        p += 4 + nl + 20
    return out


def run(args, what):
    r = subprocess.run(args, capture_output=True, text=True)
    if not check(r.returncode == 0, "%s exited %d: %s" % (what, r.returncode, r.stderr.strip()[-2000:])):
        return None
    return r.stdout


def qnn_case(tmp, name, exportqnn, extra_flags=(), ref_flags=(), **export):
    ours_pth = os.path.join(tmp, name + "-ours.pth")
    ours_mllm = os.path.join(tmp, name + "-ours.mllm")
    ref_pth = os.path.join(tmp, name + "-ref.pth")
    cfg = config(tmp, name, os.path.join(tmp, name + "-config-output.pth"), **export)
    out = run([exportqnn, "--config_file", cfg, "--output_model", ours_pth] + list(extra_flags), name + " exportqnn .pth")
    out2 = run([exportqnn, "--config_file", cfg, "--output_model", ours_mllm] + list(extra_flags), name + " exportqnn .mllm")
    ref_out = run([PY, os.path.join(ROOT, "scripts/ref_export_qnn.py"), "--config", cfg, "-o", ref_pth] + list(ref_flags), name + " reference")
    if out is None or out2 is None or ref_out is None:
        return None, None
    ours_counters = [l for l in out.splitlines() if l.startswith(("clip ", "no clip "))]
    ref_counters = [l for l in ref_out.splitlines() if l.startswith(("clip ", "no clip "))]
    check(ours_counters == ref_counters, "%s: clip counters differ:\n%s\nvs\n%s" % (name, "\n".join(ours_counters), "\n".join(ref_counters)))
    ours = torch.load(ours_pth, weights_only=True)
    ref = torch.load(ref_pth)
    compare_state(ours, ref, name)
    with open(ours_mllm, "rb") as f:
        mllm = f.read()
    check(mllm == converter_bytes(ours), "%s: our .mllm differs from converter.py's rules applied to our .pth" % name)
    entries = parse_mllm(mllm)
    check([e[0] for e in entries] == list(ref), "%s: .mllm key order differs from the reference state dict" % name)
    for (n, code, data) in entries:
        t = ref[n]
        want_code = 16 if t.dtype in (torch.int8, torch.bool) else 0
        want = t.contiguous().numpy().astype(np.int8 if want_code == 16 else "<f4").tobytes()
        check(code == want_code and data == want, "%s: .mllm tensor %s (code %d, %d bytes) differs from the reference" % (name, n, code, len(data)))
    return ours_pth, ours_mllm


def main():
    tmp = tempfile.mkdtemp(prefix="interop_export.")
    try:
        exportqnn = binary("exportqnn", tmp)
        exportrot = binary("exportrot", tmp)

        # 1-2. QNN export: default (CUDA scale), true division, clip_all + rules.
        pth, mllm = qnn_case(tmp, "cuda", exportqnn, t01m_clip_threshold=64)
        qnn_case(tmp, "truediv", exportqnn, ["--scale-true-div"], ["--true-div"], t01m_clip_threshold=64)
        qnn_case(tmp, "clipall", exportqnn, clip_all=True, model_config={
            "skip_layers": {"no_clip_input": ["model.layers.1.mlp.down_proj"], "no_clip_output": ["lm_head"]},
            "special_quantization_rules": {"head_layers": ["layers.2.mlp.up_proj"]},
        })
        if pth:
            # weights_only load already done; check the transposed layout explicitly.
            sd = torch.load(pth, weights_only=True)
            with open(os.path.join(ROOT, "testdata/tinyqwen2/config.json")) as f:
                mc = json.load(f)
            w = sd["model.layers.0.mlp.down_proj.weight"]
            check(w.dtype == torch.int8 and tuple(w.shape) == (mc["intermediate_size"], mc["hidden_size"]),
                  "down_proj.weight is int8 [in, out] = [intermediate, hidden], got %s %s" % (w.dtype, tuple(w.shape)))
            check(sd["lm_head.weight"].dtype == torch.float32, "lm_head.weight stays float32")

        # 3. Rotated export.
        rot_pth = os.path.join(tmp, "rot.pth")
        rot_mllm = os.path.join(tmp, "rot.mllm")
        ref_rot = os.path.join(tmp, "rot-ref.pth")
        cfg = config(tmp, "rot", os.path.join(tmp, "unused.pth"), t01m_clip_threshold=64)
        ok1 = run([exportrot, "--config_file", cfg, "--output_model", rot_pth], "exportrot .pth")
        ok2 = run([exportrot, "--config_file", cfg, "--output_model", rot_mllm], "exportrot .mllm")
        ok3 = run([PY, os.path.join(ROOT, "scripts/ref_export_qnn.py"), "--config", cfg, "-o", ref_rot, "--rotated"], "reference rotated export")
        if ok1 is not None and ok3 is not None:
            compare_state(torch.load(rot_pth, weights_only=True), torch.load(ref_rot), "exportrot")
        if ok2 is not None:
            with open(rot_mllm, "rb") as f:
                ours = f.read()
            with open(os.path.join(ROOT, "testdata/quant/tinyqwen2-rot-f32.mllm"), "rb") as f:
                golden = f.read()
            check(ours == golden, "exportrot .mllm differs from mllm's tinyqwen2-rot-f32.mllm")
            if ok1 is not None:
                check(ours == converter_bytes(torch.load(rot_pth, weights_only=True)), "exportrot .mllm differs from converter.py's rules on its .pth")

        # 4. Our convert, if built, turns our .pth into our .mllm.
        conv = os.path.join(BIN, "convert")
        if pth and os.path.exists(conv):
            out = os.path.join(tmp, "converted.mllm")
            if run([conv, "--input_model", pth, "--output_model", out], "convert") is not None:
                with open(out, "rb") as f, open(mllm, "rb") as g:
                    check(f.read() == g.read(), "convert of our .pth differs from exportqnn's .mllm")
        else:
            print("note: bin/convert not built; skipping the convert cross-check")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("interop_export: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
