#!/usr/bin/python3
"""Build two small Llama-style (SentencePiece BPE) tokenizer.json fixtures.

No Llama tokenizer ships with qnnkit, so this script trains a tiny BPE on a
slice of an Austen novel and writes it in the two layouts Hugging Face uses
for Llama tokenizers:

  testdata/tokenizer/llama-legacy.json     Llama-2 style: normalizer
      Sequence[Prepend("▁"), Replace(" " -> "▁")], no pre-tokenizer,
      merges as "a b" strings, decoder Sequence[Replace("▁"->" "),
      ByteFallback, Fuse, Strip(" ", 1, 0)], post-processor "<s> $A".
  testdata/tokenizer/llama-metaspace.json  newer conversion: no normalizer,
      Metaspace pre-tokenizer (prepend_scheme "first", split false), merges
      as ["a","b"] lists, decoder Sequence[Metaspace, ByteFallback, Fuse].

Both use byte_fallback with <0x00>..<0xFF>, fuse_unk and unk "<unk>". The
alphabet keeps only characters seen at least 3 times, so rarer characters
(and everything outside the training text) exercise byte fallback.

The ids are then checked against Hugging Face's own (Rust) tokenizers by
scripts/gen_tokenizer_goldens.js, whose output the Go tests compare with.

Usage: /usr/bin/python3 scripts/gen_tokenizer_llama_fixture.py [austen.txt]
"""
import collections
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SP = "\u2581"
N_MERGES = 300


def train(text):
    words = collections.Counter()
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        for w in line.split(" "):
            if w:
                words[SP + w] += 1
    chars = collections.Counter()
    for w, c in words.items():
        for ch in w:
            chars[ch] += c
    alphabet = sorted(ch for ch, c in chars.items() if c >= 3)
    aset = set(alphabet)
    # Words as symbol lists; characters outside the alphabet break words.
    seqs = {}
    for w, c in words.items():
        if all(ch in aset for ch in w):
            seqs[w] = (list(w), c)
    merges = []
    for _ in range(N_MERGES):
        pairs = collections.Counter()
        for syms, c in seqs.values():
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        a, b = best
        for w, (syms, c) in seqs.items():
            i, out = 0, []
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            seqs[w] = (out, c)
    return alphabet, merges


def build(alphabet, merges):
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for ch in alphabet:
        if ch not in vocab:
            vocab[ch] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, t in enumerate(["<unk>", "<s>", "</s>"])
    ]
    model = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "vocab": vocab}
    post = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    legacy = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SP},
            {"type": "Replace", "pattern": {"String": " "}, "content": SP}]},
        "pre_tokenizer": None, "post_processor": post,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SP}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": dict(model, merges=["%s %s" % m for m in merges]),
    }
    meta = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": SP, "prepend_scheme": "first", "split": False},
        "post_processor": post,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Metaspace", "replacement": SP, "prepend_scheme": "first", "split": False},
            {"type": "ByteFallback"}, {"type": "Fuse"}]},
        "model": dict(model, merges=[list(m) for m in merges]),
    }
    return legacy, meta


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "testdata/text/austen-persuasion.txt")
    with open(src, encoding="utf-8") as f:
        text = f.read()[:150000]
    alphabet, merges = train(text)
    legacy, meta = build(alphabet, merges)
    for name, obj in (("llama-legacy.json", legacy), ("llama-metaspace.json", meta)):
        p = os.path.join(ROOT, "testdata/tokenizer", name)
        with open(p + ".tmp", "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        os.replace(p + ".tmp", p)
        print("wrote %s: %d tokens, %d merges" % (p, len(obj["model"]["vocab"]), len(merges)))


if __name__ == "__main__":
    main()
