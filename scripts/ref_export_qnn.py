#!/usr/bin/python3
"""Torch reference of mllm's export_qnn_model.py and export_rotate_model.py (CPU).

Follows toolchain spec §4 and §5 as mllm v1's scripts do, with two deliberate
substitutions so that it runs without a GPU and without transformers:

* the model is scripts/torch_qwen2.py (HF module names and registration order,
  float32), rotated here as spec §3.4 does it (untie, fuse norms, rotate; each
  step in float64 and cast back to float32);
* the weight scale reproduces the CUDA arithmetic of
  `scales.clamp_(min=1e-5).div_(127)`: PyTorch's CUDA kernel multiplies by the
  reciprocal of a CPU scalar, so scale = amax * float32(1/127) in float32
  (spec §4.2). --true-div uses the IEEE quotient amax/127 instead.
  `w.div_(scales).round_()` is a true division by a 0-dim tensor and
  round-half-to-even, the same on CPU and CUDA.

The clip rule and the per-key procedure are export_qnn_model.py's
(get_clip_and_scale with clip_all and the no_clip sets; skip_export,
special_quantization_rules, head_layers) with the qwen2 built-ins, and
model_config lists accepted as lists (spec Q4 fixed).

usage:
  ref_export_qnn.py --config CFG.json -o OUT.pth [--true-div]   # export_qnn_model.py
  ref_export_qnn.py --config CFG.json -o OUT.pth --rotated      # export_rotate_model.py
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_qwen2 as tq  # noqa: E402


def load(mc):
    """QwenModelInterface._load_model: float32 model, rotated from R_path when online_rotation."""
    model = tq.load_model(mc["model_name"])
    if mc.get("online_rotation"):
        rb = torch.load(mc["R_path"], map_location="cpu")
        tq.rotate_model(model, rb["R"], rb["R_v"])
    return model


INV127 = torch.tensor(1.0 / 127, dtype=torch.float32)  # bits 0x3C010204


def quantize_weight(w, true_div):
    """quantize_weight_per_tensor_absmax(w, 8) with CUDA scale semantics."""
    scales = w.abs().max().clamp(min=1e-5)
    if true_div:
        scales = torch.tensor(np.float32(scales.numpy()) / np.float32(127), dtype=torch.float32)
    else:
        scales = scales * INV127
    q = w.div(scales).round().type(torch.int8)
    return q, scales.type(torch.float32)


def clip_and_scale(act, t, clip_all, no_clip_input, no_clip_output):
    """get_clip_and_scale (utils/get_input_output_scales.py) of mllm v1."""
    scales, clip = {}, {}
    counters = {"ci": 0, "co": 0, "nci": [], "nco": []}
    for L in act["all_stat"]:
        scales[L], clip[L] = {}, {}
        for d, nc, key in (("input", no_clip_input, "i"), ("output", no_clip_output, "o")):
            ori, top = act["ori"][L][d], act["top_0_1"][L][d]
            if L not in nc and (clip_all or top * t > ori):
                clip[L][d], scales[L][d] = True, ori
                counters["c" + key] += 1
            else:
                clip[L][d], scales[L][d] = False, top
                counters["nc" + key].append(L)
    return scales, clip, counters


def export_qnn(model, ec, true_div):
    mc = ec["model_config"]
    skip = mc.get("skip_layers") or {}
    rules = mc.get("special_quantization_rules") or {}
    skip_export = set(skip.get("skip_export", [])) | {"vision_tower"}
    no_clip_input = set(skip.get("no_clip_input", []))
    no_clip_output = set(skip.get("no_clip_output", []))
    skip_layers = set(rules.get("skip_layers", [])) | {"lm_head", "merger"}
    head_layers = set(rules.get("head_layers", [])) | {"head"}

    with open(ec["scale_file"]) as f:
        act = json.load(f)
    act_scales, clip_top, counters = clip_and_scale(
        act, ec.get("t01m_clip_threshold"), ec.get("clip_all"), no_clip_input, no_clip_output)

    model_dict = model.state_dict()
    for k in model_dict:
        model_dict[k] = model_dict[k].cpu()
    for L in act_scales:
        model_dict[L + ".input_scale"] = torch.tensor(act_scales[L]["input"])
        model_dict[L + ".output_scale"] = torch.tensor(act_scales[L]["output"])
        model_dict[L + ".clip_input"] = torch.tensor(clip_top[L]["input"])
        model_dict[L + ".clip_output"] = torch.tensor(clip_top[L]["output"])

    new = {}
    for name, param in model_dict.items():
        if any(p in name for p in skip_export):
            continue
        base = name.replace(".weight", "").replace(".bias", "")
        if any(p in base for p in skip_layers):
            new[name] = param
            continue
        if name.replace(".weight", "") in act_scales:
            if not any(p in name for p in head_layers):
                q, s = quantize_weight(param, true_div)
                new[name] = q
                new[name + ".scale"] = s
                new[name] = new[name].transpose(-2, -1)
            else:
                new[name] = param
        elif name.replace(".bias", "") in act_scales:
            if ec.get("quant_bias") and not any(p in name for p in head_layers):
                raise SystemExit("quant_bias is not supported (spec Q10)")
            new[name] = param
        else:
            new[name] = param
    return new, counters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--true-div", action="store_true")
    ap.add_argument("--rotated", action="store_true", help="export_rotate_model.py instead")
    a = ap.parse_args()
    with open(a.config) as f:
        ec = json.load(f)["export_config"]
    model = load(ec["model_config"])
    if a.rotated:
        sd = {k: v.cpu() for k, v in model.state_dict().items()}
        torch.save(sd, a.output)
        return
    new, c = export_qnn(model, ec, a.true_div)
    print("clip input num: %d" % c["ci"])
    print("clip output num: %d" % c["co"])
    print("no clip input num: %d" % len(c["nci"]))
    for n in c["nci"]:
        print("no clip input: %s" % n)
    print("no clip output num: %d" % len(c["nco"]))
    for n in c["nco"]:
        print("no clip output: %s" % n)
    torch.save(new, a.output)


if __name__ == "__main__":
    main()
