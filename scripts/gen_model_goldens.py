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
  testdata/model/rope.json           HF's float32 inv_freq bits and cos/sin bits at a
                                     few positions for several (theta, head_dim)
"""

import json
import math
import os
import re
import struct
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
    gen_llama()
    gen_rope()
    print("wrote %s (%d ids, logits %s; tinyllama; rope)" % (os.path.normpath(OUT), len(ids), arr.shape))


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


def gen_rope():
    out = []
    positions = [0, 1, 7, 511, 4095, 32767]
    for theta, dim in [(10000.0, 64), (10000.0, 128), (1000000.0, 128), (500000.0, 128), (1000000.0, 64)]:
        rot = tq.Rotary(dim, theta)
        cos, sin = rot(torch.tensor(positions))
        out.append({
            "theta": theta,
            "head_dim": dim,
            "inv_freq_bits": [x & 0xFFFFFFFF for x in rot.inv_freq.view(torch.int32).tolist()],
            "positions": positions,
            "cos_bits": [[x & 0xFFFFFFFF for x in r[: dim // 2]] for r in cos.view(torch.int32).tolist()],
            "sin_bits": [[x & 0xFFFFFFFF for x in r[: dim // 2]] for r in sin.view(torch.int32).tolist()],
        })
    with open(os.path.join(OUT, "rope.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": out}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
