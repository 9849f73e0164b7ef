#!/usr/bin/python3
"""Interop check of pkg/runtime and pkg/quant's vec_dot against NumPy.

1. Regenerating testdata/runtime/goldens.json with
   scripts/gen_runtime_goldens.py (independent NumPy implementations of the
   runtime spec) gives the committed file. Its Q4_K blocks come from
   mllm's own Q4_K file for tinyqwen2; the repository does not ship that
   file, so it is remade here with `quantize` from testdata/quant's f32
   input, and its lm_head bytes are first checked against mllm's SHA-256 in
   testdata/quant/golden.json (so they are mllm's bytes).
2. The Go tests that compare against those goldens bit for bit pass
   (TestGoldens in pkg/runtime, TestVecDotQ4KGoldens in pkg/quant).

Run from the repository root. Exits non-zero on any failure; the last line
is `interop_runtime: N passed, M failed`.
"""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
passed, failed = 0, 0


def check(name, ok, detail):
    global passed, failed
    if ok:
        passed += 1
        print("PASS %s: %s" % (name, detail))
    else:
        failed += 1
        print("FAIL %s: %s" % (name, detail))


def mllm_tensor(path, want):
    d = open(path, "rb").read()
    magic, isz = struct.unpack_from("<iQ", d, 0)
    p = 12
    while p < 12 + isz:
        (nl,) = struct.unpack_from("<i", d, p)
        name = d[p + 4:p + 4 + nl].decode()
        size, off, dt = struct.unpack_from("<QQi", d, p + 4 + nl)
        p += 4 + nl + 20
        if name == want:
            return d[off:off + size]
    raise KeyError(want)


with tempfile.TemporaryDirectory() as d:
    src = os.path.join(d, "tinyqwen2-rot-q4_k.mllm")
    q = subprocess.run(["go", "run", "./cmd/quantize", "--quiet",
                        os.path.join("testdata", "quant", "tinyqwen2-rot-f32.mllm"), src, "Q4_K"],
                       cwd=ROOT, capture_output=True, text=True)
    golden = json.load(open(os.path.join(ROOT, "testdata", "quant", "golden.json")))
    want = [t["sha256"] for t in golden["files"]["Q4_K"]["tensors"] if t["name"] == "lm_head.weight"][0]
    got = hashlib.sha256(mllm_tensor(src, "lm_head.weight")).hexdigest() if q.returncode == 0 else None
    check("Q4_K lm_head equals mllm's", got is not None and got == want,
          "sha256 %s (mllm: %s)%s" % (got, want, "" if q.returncode == 0 else " " + q.stderr.strip()))
    out = os.path.join(d, "goldens.json")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen_runtime_goldens.py"), src],
                       env=dict(os.environ, GOLDENS_OUT=out), capture_output=True, text=True)
    same = r.returncode == 0 and open(out).read() == open(os.path.join(ROOT, "testdata", "runtime", "goldens.json")).read()
    check("goldens current", same, "regenerated goldens.json equals the committed one" if same else (r.stderr or "files differ"))

for pkg, test in (("./pkg/runtime", "TestGoldens"), ("./pkg/quant", "TestVecDotQ4KGoldens")):
    r = subprocess.run(["go", "test", pkg, "-run", "^%s$" % test, "-count", "1"], cwd=ROOT, capture_output=True, text=True)
    check("%s %s" % (pkg, test), r.returncode == 0, (r.stdout + r.stderr).strip().splitlines()[-1] if (r.stdout + r.stderr).strip() else "")

print("interop_runtime: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
