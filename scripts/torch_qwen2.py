#!/usr/bin/python3
"""Plain-torch reference of the Hugging Face Qwen2 (and Llama) decoder.

Follows transformers' Qwen2ForCausalLM semantics (eager attention, fp32)
without needing transformers: safetensors headers are parsed by hand and
bf16/f16 weights are upcast to float32.

Importable by other scripts (run with Debian's /usr/bin/python3, torch 1.13):

    import torch_qwen2 as tq
    model = tq.load_model("testdata/tinyqwen2")
    logits = tq.forward(model, [1, 2, 3])            # [len(ids), vocab] fp32
    handles = tq.register_linear_hooks(model, fn)    # fn(name, inp, out)

Every linear is an nn.Linear submodule registered under its HF module path
(`model.layers.N.self_attn.q_proj`, ..., `lm_head`), so
`dict(model.named_modules())[name]` and `register_forward_hook` work as on a
transformers model; `linear_names(model)` lists them in call order.
"""

import json
import math
import os
import struct

import numpy as np
import torch
from torch import nn

__all__ = [
    "read_safetensors",
    "Config",
    "Qwen2",
    "load_model",
    "forward",
    "linear_names",
    "register_linear_hooks",
    "perplexity",
]

_DTYPES = {
    "F32": np.float32,
    "F16": np.float16,
    "F64": np.float64,
    "I64": np.int64,
    "I32": np.int32,
    "I8": np.int8,
    "U8": np.uint8,
}


def read_safetensors(path):
    """Return {name: float32 torch tensor} for a safetensors file (bf16/f16 upcast)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        raw = data[base + lo : base + hi]
        shape = info["shape"]
        dt = info["dtype"]
        if dt == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif dt in _DTYPES:
            arr = np.frombuffer(raw, dtype=np.dtype(_DTYPES[dt]).newbyteorder("<")).astype(np.float32)
        else:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, dt))
        out[name] = torch.from_numpy(arr.reshape(shape).copy())
    return out


def read_checkpoint(model_dir):
    """Read model.safetensors or a sharded model.safetensors.index.json."""
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        sd = {}
        for fn in files:
            sd.update(read_safetensors(os.path.join(model_dir, fn)))
        return sd
    return read_safetensors(os.path.join(model_dir, "model.safetensors"))


class Config:
    """The config.json fields the forward needs."""

    def __init__(self, d):
        self.model_type = d["model_type"]
        if self.model_type not in ("qwen2", "llama"):
            raise ValueError("model_type %r is not supported" % self.model_type)
        self.hidden_size = d["hidden_size"]
        self.intermediate_size = d["intermediate_size"]
        self.num_hidden_layers = d["num_hidden_layers"]
        self.num_attention_heads = d["num_attention_heads"]
        self.num_key_value_heads = d.get("num_key_value_heads") or self.num_attention_heads
        self.head_dim = d.get("head_dim") or self.hidden_size // self.num_attention_heads
        self.vocab_size = d["vocab_size"]
        self.rms_norm_eps = d.get("rms_norm_eps", 1e-6)
        self.rope_theta = d.get("rope_theta", 10000.0)
        self.tie_word_embeddings = d.get("tie_word_embeddings", False)
        if self.model_type == "qwen2":
            self.attention_bias = True
        else:
            self.attention_bias = d.get("attention_bias", False)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        # HF Qwen2RMSNorm / LlamaRMSNorm in float32.
        var = x.pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(var + self.eps)
        return self.weight * x


class Rotary(nn.Module):
    def __init__(self, head_dim, theta):
        super().__init__()
        # HF _compute_default_rope_parameters, float32.
        inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        self.register_buffer("inv_freq", inv, persistent=False)

    def forward(self, positions):
        # HF: inv_freq[:, None] @ position_ids[None, :] in float32, then cat
        # (in float64 when the model was converted with .double()).
        freqs = torch.outer(positions.to(self.inv_freq.dtype), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        q, kv = c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim
        self.q_proj = nn.Linear(c.hidden_size, q, bias=c.attention_bias)
        self.k_proj = nn.Linear(c.hidden_size, kv, bias=c.attention_bias)
        self.v_proj = nn.Linear(c.hidden_size, kv, bias=c.attention_bias)
        self.o_proj = nn.Linear(q, c.hidden_size, bias=False)

    def forward(self, x, cos, sin):
        c = self.c
        s = x.shape[0]
        hd = c.head_dim
        q = self.q_proj(x).view(s, c.num_attention_heads, hd).transpose(0, 1)
        k = self.k_proj(x).view(s, c.num_key_value_heads, hd).transpose(0, 1)
        v = self.v_proj(x).view(s, c.num_key_value_heads, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = c.num_attention_heads // c.num_key_value_heads
        k = k.repeat_interleave(rep, dim=0)  # HF repeat_kv
        v = v.repeat_interleave(rep, dim=0)
        w = torch.matmul(q, k.transpose(1, 2)) * (hd ** -0.5)
        mask = torch.full((s, s), torch.finfo(torch.float32).min).triu(1)
        w = torch.softmax(w + mask, dim=-1, dtype=w.dtype)  # float32 (HF), or float64 after .double()
        o = torch.matmul(w, v).transpose(0, 1).reshape(s, -1)
        return self.o_proj(o)


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = Attention(c)
        self.mlp = MLP(c)
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Inner(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([Layer(c) for _ in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.rotary_emb = Rotary(c.head_dim, c.rope_theta)


class Qwen2(nn.Module):
    """Qwen2ForCausalLM with HF module names (`model.*`, `lm_head`)."""

    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = Inner(c)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)

    def forward(self, ids):
        """ids: 1-D LongTensor of one sequence at positions 0..; returns [S, vocab]."""
        x = self.model.embed_tokens(ids)
        cos, sin = self.model.rotary_emb(torch.arange(ids.shape[0]))
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.model.norm(x))


def load_model(model_dir):
    """Build a Qwen2 module from an HF directory (config.json + safetensors), fp32, eval mode."""
    with open(os.path.join(model_dir, "config.json")) as f:
        c = Config(json.load(f))
    m = Qwen2(c)
    sd = read_checkpoint(model_dir)
    if c.tie_word_embeddings or "lm_head.weight" not in sd:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    missing, unexpected = m.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError("%s: missing %s, unexpected %s" % (model_dir, missing, unexpected))
    if c.tie_word_embeddings:
        m.lm_head.weight = m.model.embed_tokens.weight
    m.eval()
    return m


@torch.no_grad()
def forward(model, ids):
    """Logits [len(ids), vocab] (float32) of one sequence starting at position 0."""
    return model(torch.as_tensor(list(ids), dtype=torch.long))


def linear_names(model):
    """HF names of every nn.Linear in call order (q,k,v,o,gate,up,down per layer; lm_head)."""
    names = []
    for i in range(model.config.num_hidden_layers):
        p = "model.layers.%d." % i
        names += [p + "self_attn." + n for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
        names += [p + "mlp." + n for n in ("gate_proj", "up_proj", "down_proj")]
    return names + ["lm_head"]


def register_linear_hooks(model, fn, names=None):
    """Call fn(name, input [S, in], output [S, out]) after each named linear; returns handles."""
    mods = dict(model.named_modules())
    handles = []
    for name in names or linear_names(model):
        def hook(_mod, inp, out, name=name):
            fn(name, inp[0], out)

        handles.append(mods[name].register_forward_hook(hook))
    return handles


@torch.no_grad()
def perplexity(model, ids, ctx=512, max_windows=0):
    """pkg/eval's protocol: non-overlapping windows of ctx ids starting at ctx*w,
    each run from position 0 on its first ctx-1 ids, scoring ids 1..ctx-1 with a
    float64 log-softmax. Returns (ppl, total_nll, count)."""
    n = len(ids) // ctx
    if max_windows:
        n = min(n, max_windows)
    if n == 0:
        raise ValueError("%d ids do not fill one window of %d" % (len(ids), ctx))
    nll, count = 0.0, 0
    for w in range(n):
        win = list(ids[ctx * w : ctx * (w + 1)])
        lp = torch.log_softmax(forward(model, win[:-1]).double(), dim=-1)
        tgt = torch.tensor(win[1:], dtype=torch.long)
        nll -= lp.gather(1, tgt[:, None]).sum().item()
        count += len(tgt)
    return math.exp(nll / count), nll, count


def blocks(m, n):
    return torch.block_diag(*([m] * n))


@torch.no_grad()
def rotate_model(model, R, Rv):
    """Spec §3.4 for Qwen2ForCausalLM: (1) untie, (2) fuse norms, (3) rotate."""
    c = model.config
    inner = model.model
    model.lm_head.weight = torch.nn.Parameter(inner.embed_tokens.weight.detach().clone())

    def fuse(norm, linears):
        g = norm.weight.data.double()
        for lin in linears:
            lin.weight.data = (lin.weight.data.double() * g).float()
        norm.weight.data = torch.ones_like(norm.weight.data)

    for layer in inner.layers:
        fuse(layer.input_layernorm, [layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj])
        fuse(layer.post_attention_layernorm, [layer.mlp.up_proj, layer.mlp.gate_proj])
    fuse(inner.norm, [model.lm_head])

    R = R.double()

    def rotate_input(lin, A):  # W <- W·A
        lin.weight.data = torch.matmul(lin.weight.data.double(), A).float()

    def rotate_output(lin, A):  # W <- Aᵀ·W, b <- b·A
        lin.weight.data = torch.matmul(A.T, lin.weight.data.double()).float()
        if lin.bias is not None:
            lin.bias.data = torch.matmul(lin.bias.data.double(), A).float()

    inner.embed_tokens.weight.data = torch.matmul(inner.embed_tokens.weight.data.double(), R).float()
    for i, layer in enumerate(inner.layers):
        a, m = layer.self_attn, layer.mlp
        for lin in (a.q_proj, a.k_proj, a.v_proj):
            rotate_input(lin, R)
        rotate_output(a.o_proj, R)
        rv = (Rv[i] if isinstance(Rv, (list, tuple)) else Rv).double()
        rotate_output(a.v_proj, blocks(rv, c.num_key_value_heads))
        rotate_input(a.o_proj, blocks(rv, c.num_attention_heads))
        rotate_input(m.up_proj, R)
        rotate_input(m.gate_proj, R)
        rotate_output(m.down_proj, R)
    rotate_input(model.lm_head, R)


if __name__ == "__main__":
    import sys

    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "testdata", "tinyqwen2")
    m = load_model(d)
    lg = forward(m, [1, 2, 3, 4])
    print("logits", tuple(lg.shape), "argmax", lg.argmax(-1).tolist())
