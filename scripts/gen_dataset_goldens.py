#!/usr/bin/python3
"""Golden values for pkg/dataset's NumPy-compatible shuffle.

HF datasets' `dataset.shuffle(seed=42)` is
`np.random.default_rng(42).permutation(len(dataset))`. This script records,
for several N and seeds, the head and tail of that permutation (all of it
for small N) plus the first raw PCG64 outputs, using Debian's NumPy.

It also records, for testdata/calib/val.jsonl.zst (decompressed with the
zstd CLI, read line by line as HF's json loader does), the number of samples
and, for the first 32 samples of the seed-42 order, the row, the code-point
length of "text" and the SHA-256 of text[:6000] (UTF-8), and the same for
paragraph samples (HF text loader, sample_by="paragraph") of a few strings.

Usage: /usr/bin/python3 scripts/gen_dataset_goldens.py
Writes testdata/dataset/permutation_goldens.json and
testdata/dataset/sample_goldens.json (temp file + rename).
"""
import hashlib
import json
import os
import subprocess

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "testdata", "dataset", "permutation_goldens.json")
SAMPLES = os.path.join(ROOT, "testdata", "dataset", "sample_goldens.json")
CALIB = os.path.join(ROOT, "testdata", "calib", "val.jsonl.zst")

PARAGRAPH_CASES = [
    "a\n\nb", "a\n\n\nb", "a\n\n\n\nb", "a\n\n\n\n\nb", "a\r\n\r\nb\r\n", "a\r\rb\rc",
    "\n\na", "a\n", "a\n\n", "a\n\n\n", "one line only", "", "\n", "x\r\n\ny\n\r\nz",
    "p1 l1\np1 l2\n\np2\n\n\n\np3 \u00e9\n",
]


def paragraphs(text):
    """HF datasets' text builder with sample_by="paragraph" on a file
    opened with universal newlines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [p for p in text.split("\n\n") if p]


def sample_goldens():
    raw = subprocess.run(["zstd", "-dc", CALIB], check=True, stdout=subprocess.PIPE).stdout
    rows = [json.loads(l) for l in raw.decode("utf-8").split("\n") if l.strip()]
    perm = np.random.default_rng(42).permutation(len(rows))
    first = []
    for i in perm[:32]:
        t = rows[int(i)]["text"]
        first.append({"row": int(i), "runes": len(t),
                      "sha256_6000": hashlib.sha256(t[:6000].encode("utf-8")).hexdigest()})
    paras = [{"text": c, "paragraphs": paragraphs(c)} for c in PARAGRAPH_CASES]
    return {"calib": {"file": "testdata/calib/val.jsonl.zst", "n": len(rows), "first": first},
            "paragraph_cases": paras}

CASES = [(42, n) for n in (1, 2, 3, 10, 186, 1000, 65536, 214670, (1 << 20) + 7)]
CASES += [(0, 10), (1, 1000), (12345, 186), ((1 << 32) + 5, 100), ((1 << 64) - 1, 50)]
FULL = 1000  # permutations up to this length are stored whole


def main():
    perms = []
    for seed, n in CASES:
        p = np.random.default_rng(seed).permutation(n)
        rec = {"seed": str(seed), "n": n}
        if n <= FULL:
            rec["full"] = [int(x) for x in p]
        else:
            rec["head"] = [int(x) for x in p[:20]]
            rec["tail"] = [int(x) for x in p[-20:]]
            rec["sum_sq_index"] = str(int(np.sum(p.astype(np.int64) ** 2 % 1000003 * np.arange(n) % 1000003)))
        perms.append(rec)
    raw = []
    for seed in (0, 42, (1 << 32) + 5):
        bg = np.random.PCG64(seed)
        raw.append({"seed": str(seed), "uint64": [str(int(x)) for x in bg.random_raw(8)]})
    doc = {"numpy": np.__version__, "permutations": perms, "pcg64_raw": raw}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT + ".tmp", "w") as f:
        json.dump(doc, f, indent=0)
    os.replace(OUT + ".tmp", OUT)
    print("wrote %s (numpy %s, %d permutations)" % (OUT, np.__version__, len(perms)))
    sg = sample_goldens()
    with open(SAMPLES + ".tmp", "w") as f:
        json.dump(sg, f, indent=0, ensure_ascii=False)
    os.replace(SAMPLES + ".tmp", SAMPLES)
    print("wrote %s (%d calibration samples)" % (SAMPLES, sg["calib"]["n"]))


if __name__ == "__main__":
    main()
