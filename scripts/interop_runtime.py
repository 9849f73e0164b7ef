#!/usr/bin/python3
"""Interop check of pkg/runtime and pkg/quant's vec_dot against NumPy.

1. Regenerating testdata/runtime/goldens.json with
   scripts/gen_runtime_goldens.py (independent NumPy implementations of the
   runtime spec, on mllm's own Q4_K file) gives the committed file.
2. The Go tests that compare against those goldens bit for bit pass
   (TestGoldens in pkg/runtime, TestVecDotQ4KGoldens in pkg/quant).

Run from the repository root. Exits non-zero on any failure; the last line
is `interop_runtime: N passed, M failed`.
"""
import os
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


with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "goldens.json")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen_runtime_goldens.py")],
                       env=dict(os.environ, GOLDENS_OUT=out), capture_output=True, text=True)
    same = r.returncode == 0 and open(out).read() == open(os.path.join(ROOT, "testdata", "runtime", "goldens.json")).read()
    check("goldens current", same, "regenerated goldens.json equals the committed one" if same else (r.stderr or "files differ"))

for pkg, test in (("./pkg/runtime", "TestGoldens"), ("./pkg/quant", "TestVecDotQ4KGoldens")):
    r = subprocess.run(["go", "test", pkg, "-run", "^%s$" % test, "-count", "1"], cwd=ROOT, capture_output=True, text=True)
    check("%s %s" % (pkg, test), r.returncode == 0, (r.stdout + r.stderr).strip().splitlines()[-1] if (r.stdout + r.stderr).strip() else "")

print("interop_runtime: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
