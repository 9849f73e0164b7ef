#!/usr/bin/python3
"""Interop check of pkg/model / pkg/eval / cmd/run against real torch.

1. scripts/torch_qwen2.py reproduces testdata/tinyqwen2/reference.json: its
   perplexity over the first 16 windows of 512 Persuasion ids
   (testdata/model/persuasion_ids_8192.u16, written by pkg/eval's test from
   the Go tokenizer) equals torch's reference within 1e-6 relative.
2. The committed goldens are current: regenerating the prompt logits (one
   torch and one OpenBLAS thread, as the generator) gives
   testdata/model/prompt_logits.f32 (max|a-b|/max|b| <= 1e-6; the number of
   identical values is reported).
3. The Go binary agrees with torch: `bin/run --ppl` over the same 16 windows
   prints a perplexity within 1e-5 relative of torch_qwen2's, and its token
   count equals reference.json's.

Run from the repository root after `make build` (scripts/interop.sh does).
Exits non-zero on any failure; the last line is `interop_model: N passed, M failed`.
"""

import json
import os
import subprocess
import sys

# The goldens are made with one OpenBLAS thread (scripts/gen_model_goldens.py):
# OpenBLAS's summation order depends on its thread count, read at load time.
if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
    os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, OPENBLAS_NUM_THREADS="1"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import torch_qwen2 as tq  # noqa: E402

MODEL = os.path.join(ROOT, "testdata", "tinyqwen2")
passed, failed = 0, 0


def check(name, ok, detail):
    global passed, failed
    if ok:
        passed += 1
        print("PASS %s: %s" % (name, detail))
    else:
        failed += 1
        print("FAIL %s: %s" % (name, detail))


def main():
    torch.set_num_threads(2)
    with open(os.path.join(MODEL, "reference.json")) as f:
        ref = json.load(f)["persuasion"]
    m = tq.load_model(MODEL)

    ids = np.fromfile(os.path.join(ROOT, "testdata", "model", "persuasion_ids_8192.u16"), dtype="<u2").astype(int).tolist()
    check("ids fixture", ids[: len(ref["first_ids"])] == ref["first_ids"] and len(ids) == 8192,
          "%d ids, first %s" % (len(ids), ids[:8]))
    ppl, _, count = tq.perplexity(m, ids, ctx=512, max_windows=16)
    rel = abs(ppl - ref["ppl"]) / ref["ppl"]
    check("torch_qwen2 perplexity", count == 16 * 511 and rel <= 1e-6,
          "%.8f vs reference.json %.8f (rel %.2g, %d tokens)" % (ppl, ref["ppl"], rel, count))

    with open(os.path.join(ROOT, "testdata", "model", "prompt.json")) as f:
        meta = json.load(f)
    want = np.fromfile(os.path.join(ROOT, "testdata", "model", "prompt_logits.f32"), dtype="<f4").reshape(meta["shape"])
    torch.set_num_threads(1)  # as the generator
    got = tq.forward(m, meta["ids"]).numpy()
    torch.set_num_threads(2)
    rel = float(np.abs(got - want).max() / np.abs(want).max())
    same = int((got.view(np.uint32) == want.view(np.uint32)).sum())
    check("prompt golden current", rel <= 1e-6, "max|a-b|/max|b| = %.2g, %d/%d identical" % (rel, same, want.size))

    run = os.path.join(ROOT, "bin", "run")
    if not os.path.exists(run):
        check("Go run binary", False, "%s missing (make build)" % run)
    else:
        p = subprocess.run([run, "--model", MODEL, "--ppl", os.path.join(ROOT, "testdata", "text", "austen-persuasion.txt"),
                            "--ctx", "512", "--max-windows", "16"], capture_output=True, text=True)
        out = dict(l.split(": ", 1) for l in p.stdout.splitlines() if ": " in l)
        if p.returncode != 0 or "perplexity" not in out:
            check("Go run --ppl", False, "exit %d: %s" % (p.returncode, p.stderr.strip()[-300:]))
        else:
            gppl = float(out["perplexity"])
            rel = abs(gppl - ppl) / ppl
            check("Go run --ppl vs torch", rel <= 1e-5 and int(out["tokens"]) == ref["tokens_in_file"],
                  "Go %.6f vs torch %.6f (rel %.2g); tokens %s vs %d; Go %s tokens/s" % (
                      gppl, ppl, rel, out["tokens"], ref["tokens_in_file"], out.get("tokens/s")))

    print("interop_model: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
