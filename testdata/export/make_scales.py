#!/usr/bin/env python3
"""Writes tinyqwen2-scales.json: a synthetic scale JSON for the bundled model.

The layers are tinyqwen2's Linear layers in hook order (per layer q, k, v, o,
gate, up, down; then lm_head), as get_distribution.py writes them. The values
are chosen to exercise the clip rule with t01m_clip_threshold = 64: per layer
the ratio ori/top cycles through 10 (clip), 64 (equality: no clip), 100 (no
clip) and 3 (clip), with a different phase for the output. All values are
exact in float32, so torch.tensor(v) and Go's float32(v) agree trivially.
The format is json.dump(..., indent=4) like get_distribution.py.
"""
import json, os, struct

here = os.path.dirname(os.path.abspath(__file__))
cfg = json.load(open(os.path.join(here, "..", "tinyqwen2", "config.json")))
names = []
for i in range(cfg["num_hidden_layers"]):
    p = "model.layers.%d." % i
    names += [p + "self_attn." + n for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
    names += [p + "mlp." + n for n in ("gate_proj", "up_proj", "down_proj")]
names.append("lm_head")

def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


ratios = [10, 64, 100, 3]
ori, top, stat = {}, {}, {}
for k, n in enumerate(names):
    oi = 2.0 + 0.25 * k            # multiples of 1/4: exact
    oo = 8.0 + 0.5 * k
    ri, ro = ratios[k % 4], ratios[(k + 1) % 4]
    ti, to = oi / ri, oo / ro
    # round the tops to float32-exact values (keeps each ratio's clip class)
    ti, to = f32(ti), f32(to)
    if ri == 64:
        ti = oi / 64  # exact (power of two): top*64 == ori
    if ro == 64:
        to = oo / 64
    ori[n] = {"input": oi, "output": oo}
    top[n] = {"input": ti, "output": to}
    stat[n] = {"input": {"mean": f32(0.001 * k), "std": f32(0.5 + 0.01 * k)},
               "output": {"mean": f32(-0.002 * k), "std": f32(1.0 + 0.02 * k)}}

with open(os.path.join(here, "tinyqwen2-scales.json"), "w") as f:
    json.dump({"ori": ori, "top_0_1": top, "all_stat": stat}, f, indent=4)
