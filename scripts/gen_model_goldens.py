#!/usr/bin/python3
"""Write the pkg/model goldens into testdata/model/ with scripts/torch_qwen2.py.

Run from the repository root with Debian's torch:

    /usr/bin/python3 scripts/gen_model_goldens.py

Outputs (for testdata/tinyqwen2 and a fixed 32-id prompt):
  testdata/model/prompt_logits.f32   raw little-endian float32 logits [32][vocab]
  testdata/model/prompt.json         ids, shape, torch version, and per-linear
                                     statistics of every hooked linear's input and
                                     output (absmax, sum, sum of |x|) over the prompt, to check
                                     the Go hook tap against torch forward hooks.
"""

import json
import os
import re
import sys

import numpy as np
import torch

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
    print("wrote %s (%d ids, logits %s)" % (OUT, len(ids), arr.shape))


if __name__ == "__main__":
    main()
