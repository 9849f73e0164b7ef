#!/usr/bin/python3
"""Torch + NumPy reference of mllm's get_distribution.py (spec §2) for Qwen2.

Follows the original step by step, without transformers/datasets (not
installed here):

* the model: scripts/torch_qwen2.py (HF module names, fp32), rotated as
  spec §3.4 (untie, fuse norms, rotate; every step in float64, cast back to
  float32) with the R file given (torch.load);
* the samples: ``<dataset_path>/val.jsonl.zst`` (decompressed with the zstd
  CLI), ``np.random.default_rng(42).permutation(len)`` (what HF
  ``dataset.shuffle(seed=42)`` does), ``text[:6000]`` (code points);
* the token ids come from a JSON file (``--tokens``: ``{"samples": [[ids]...]}``,
  qnnkit's ``profile --dump-tokens``), because the HF tokenizers library is
  not available; every sample's ids are decoded with tokenizer.json's
  byte-level vocabulary and must give back exactly ``text[:6000]``;
* OpenBLAS runs with one thread (see below), so the result is the same on
  every machine;
* the hook: a forward hook on every nn.Linear that appends
  ``x.clone().numpy()`` and ``y - bias`` (no_bias, float32) per call;
* the statistics: concatenate per layer and direction, ``np.partition`` at
  ``N-1`` and ``int(N*(1-0.001))-1``, ``np.mean``/``np.std`` (float32);
  ``json.dump(indent=4)``.

To bound memory the forward pass runs twice, hooking the decoder layers'
Linears the first time and lm_head (whose vocabulary-wide outputs are the
largest array) the second: the values are exactly those of a single pass
(the forward is deterministic), and the JSON key order is the first-call
order. Peak memory is about 4 copies of lm_head's outputs (about 3.4 GB for
the bundled model with 16 samples).

usage: ref_get_distribution.py --config CFG.json --rotation R.bin --tokens T.json -o OUT.json
"""

import argparse
import json
import os
import subprocess
import sys

# OpenBLAS splits a product differently for each thread count, and its
# register tiles then sum some outputs in another order: the statistics
# would depend on the machine's cores. The reference therefore runs with one
# OpenBLAS thread unless the caller sets OPENBLAS_NUM_THREADS (read when the
# library loads, hence the re-exec).
if "OPENBLAS_NUM_THREADS" not in os.environ:
    os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, OPENBLAS_NUM_THREADS="1"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_qwen2 as tq  # noqa: E402


def load_texts(dataset_path, n):
    raw = subprocess.run(
        ["zstd", "-dc", os.path.join(dataset_path, "val.jsonl.zst")], check=True, stdout=subprocess.PIPE
    ).stdout
    rows = [json.loads(l) for l in raw.decode("utf-8").splitlines() if l.strip()]
    perm = np.random.default_rng(42).permutation(len(rows))
    return [rows[int(i)]["text"][:6000] for i in perm[:n]]


def bytes_to_unicode():
    """GPT-2's byte-level alphabet (as in HF tokenizers' ByteLevel)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def decoder(tokenizer_json):
    with open(tokenizer_json, encoding="utf-8") as f:
        tj = json.load(f)
    inv = {v: k for k, v in tj["model"]["vocab"].items()}
    special = {t["id"]: t["content"] for t in tj.get("added_tokens", [])}
    byte_of = {c: b for b, c in bytes_to_unicode().items()}

    def decode(ids):
        out = bytearray()
        for i in ids:
            if i in special:
                out += special[i].encode("utf-8")
            else:
                out += bytes(byte_of[c] for c in inv[i])
        return out.decode("utf-8")

    return decode


def statistics(chunks):
    """get_distribution.py:14-45 for one layer and direction."""
    a = np.concatenate([np.asarray(e).reshape(-1) for e in chunks])
    n = len(a)
    ori = float(np.partition(a, n - 1)[n - 1])
    k = int(n * (1 - 0.001)) - 1
    top = float(np.partition(a, k)[k])
    mean, std = float(np.mean(a)), float(np.std(a))
    return ori, top, {"mean": mean, "std": std}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--rotation", help="R file (torch format); default: the config's save_rotation or R_path")
    ap.add_argument("--tokens", required=True, help='{"samples": [[ids], ...]} in sample order')
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument(
        "--float64",
        action="store_true",
        help="run the (float32-rotated) model in float64: a near-exact reference of the same weights, "
        "to measure how far each float32 forward pass is from it",
    )
    args = ap.parse_args()
    torch.set_num_threads(2)

    with open(args.config) as f:
        cfg = json.load(f)["profile_config"]
    mc = cfg["model_config"]
    n = cfg["num_samples"]
    no_bias = cfg["no_bias"]

    texts = load_texts(cfg["dataset_path"], n)
    with open(args.tokens) as f:
        samples = json.load(f)["samples"]
    if len(samples) != n:
        sys.exit("ref: %d token lists for num_samples %d" % (len(samples), n))
    tok = mc["tokenizer_name"]
    if os.path.isdir(tok):
        tok = os.path.join(tok, "tokenizer.json")
    decode = decoder(tok)
    bad = [i for i, (t, ids) in enumerate(zip(texts, samples)) if decode(ids) != t]
    if bad:
        sys.exit("ref: token ids of samples %s do not decode to text[:6000] of the selected samples" % bad)
    print("ref: %d samples, %d tokens, ids decode to the selected texts" % (n, sum(map(len, samples))), file=sys.stderr)

    model = tq.load_model(mc["model_name"])
    if mc.get("online_rotation"):
        rpath = args.rotation or mc.get("save_rotation") or mc.get("R_path")
        rd = torch.load(rpath, map_location="cpu")
        tq.rotate_model(model, rd["R"].double(), rd["R_v"])
    if args.float64:
        model.double()

    names = tq.linear_names(model)
    L = model.config.num_hidden_layers
    groups = [names[: 7 * L], names[7 * L :]]
    result = {"ori": {}, "top_0_1": {}, "all_stat": {}}
    mods = dict(model.named_modules())
    for g in groups:
        act = {}

        def fn(name, x, y):
            d = act.setdefault(name, {"input": [], "output": []})
            d["input"].append(x.clone().detach().cpu().numpy())
            m = mods[name]
            if no_bias and isinstance(m, torch.nn.Linear) and m.bias is not None:
                y = y.cpu() - m.bias.view(1, -1)
            d["output"].append(y.clone().detach().cpu().numpy())

        hs = tq.register_linear_hooks(model, fn, g)
        for ids in samples:
            tq.forward(model, ids)
        for h in hs:
            h.remove()
        for name in g:  # first-call order within the group = names order
            o, t, s = {}, {}, {}
            for d in ("input", "output"):
                o[d], t[d], s[d] = statistics(act[name][d])
                act[name][d] = None
            result["ori"][name], result["top_0_1"][name], result["all_stat"][name] = o, t, s
        print("ref: %d layers done (%s ... %s)" % (len(g), g[0], g[-1]), file=sys.stderr)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=4, ensure_ascii=False)


if __name__ == "__main__":
    main()
