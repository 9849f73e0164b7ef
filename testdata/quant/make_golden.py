#!/usr/bin/env python3
"""Writes golden.json: SHA-256 digests of mllm's own `quantize` outputs.

Usage: python3 testdata/quant/make_golden.py DIR
DIR holds tinyqwen2-rot-{f32,q4_k,q4_0,q8_0,q6_k}.mllm as written by mllm's
C++ quantize tool (the project's shared assets/mllm-quantize folder).

For each output file it records the whole-file SHA-256 and, in index order,
every tensor's name, dtype code, byte size, offset and the SHA-256 of its
bytes. Go tests compare qnnkit's quantize output against these digests, so the
4-6.5 MB golden files themselves need not be stored in the repository.
"""
import hashlib, json, os, struct, sys


def entries(path):
    data = open(path, "rb").read()
    magic, isz = struct.unpack_from("<iQ", data, 0)
    assert magic == 20012, path
    p, end, out = 12, 12 + isz, []
    while p < end:
        (nl,) = struct.unpack_from("<i", data, p)
        name = data[p + 4:p + 4 + nl].decode()
        size, off, dt = struct.unpack_from("<QQi", data, p + 4 + nl)
        out.append({"name": name, "dtype": dt, "size": size, "offset": off,
                    "sha256": hashlib.sha256(data[off:off + size]).hexdigest()})
        p += 4 + nl + 20
    return hashlib.sha256(data).hexdigest(), len(data), out


def main():
    d = sys.argv[1]
    res = {"source": "mllm v1 tools/quantizer (quantize IN OUT TYPE) on tinyqwen2-rot-f32.mllm", "files": {}}
    for t in ["Q4_K", "Q4_0", "Q8_0", "Q6_K"]:
        fn = "tinyqwen2-rot-%s.mllm" % t.lower()
        sha, n, ents = entries(os.path.join(d, fn))
        res["files"][t] = {"file": fn, "sha256": sha, "bytes": n, "tensors": ents}
    sha, n, _ = entries(os.path.join(d, "tinyqwen2-rot-f32.mllm"))
    res["input"] = {"file": "tinyqwen2-rot-f32.mllm", "sha256": sha, "bytes": n}
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
