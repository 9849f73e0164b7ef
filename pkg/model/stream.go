package model

import (
	"fmt"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// This file reads a checkpoint one part at a time (embedding, one decoder
// layer, final norm, lm_head), so that export and profiling can stream a
// model whose float32 weights do not fit in memory. LoadWeights is built
// from the same functions. After a tensor is converted to float32, the
// pages of its memory-mapped source are dropped from the process (they
// stay in the page cache), so reading the whole checkpoint does not grow
// the resident set by the checkpoint's size.

// Skeleton returns the Weights of cfg's architecture with every name and
// size set but no data: Linears, StateDict names and shapes work on it.
// A Linear that has a bias gets an empty, non-nil B (so StateDict lists the
// bias); every other data slice is nil.
func Skeleton(cfg *Config) *Weights {
	w := &Weights{Config: cfg, Layers: make([]Layer, cfg.NumLayers), Tied: cfg.TieWordEmbeddings}
	for i := range w.Layers {
		l := &w.Layers[i]
		for _, s := range layerLinears(cfg, i, l) {
			*s.dst = Linear{Name: s.name, Out: s.out, In: s.in}
			if s.bias {
				s.dst.B = []float32{}
			}
		}
	}
	w.LMHead = Linear{Name: "lm_head", Out: cfg.VocabSize, In: cfg.HiddenSize}
	return w
}

// linearSpec describes one Linear of a decoder layer.
type linearSpec struct {
	dst     *Linear
	name    string
	out, in int
	bias    bool
}

// layerLinears lists layer i's Linears in registration order, pointing into l.
func layerLinears(cfg *Config, i int, l *Layer) []linearSpec {
	h, kv, q, in := cfg.HiddenSize, cfg.KVDim(), cfg.QDim(), cfg.IntermediateSize
	p := fmt.Sprintf("model.layers.%d.", i)
	return []linearSpec{
		{&l.Q, p + "self_attn.q_proj", q, h, cfg.AttentionBias},
		{&l.K, p + "self_attn.k_proj", kv, h, cfg.AttentionBias},
		{&l.V, p + "self_attn.v_proj", kv, h, cfg.AttentionBias},
		{&l.O, p + "self_attn.o_proj", h, q, false},
		{&l.Gate, p + "mlp.gate_proj", in, h, false},
		{&l.Up, p + "mlp.up_proj", in, h, false},
		{&l.Down, p + "mlp.down_proj", h, in, false},
	}
}

// LayerStateDict lists decoder layer i's entries of the state dict in
// registration order (spec §4.1): q.weight, q.bias, k.weight, k.bias,
// v.weight, v.bias, o, gate, up, down, input_layernorm,
// post_attention_layernorm. A bias is listed when its B is non-nil.
func LayerStateDict(cfg *Config, i int, l *Layer) []NamedTensor {
	var sd []NamedTensor
	for _, x := range []*Linear{&l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down} {
		sd = append(sd, NamedTensor{x.Name + ".weight", []int{x.Out, x.In}, x.W})
		if x.B != nil {
			sd = append(sd, NamedTensor{x.Name + ".bias", []int{x.Out}, x.B})
		}
	}
	p := fmt.Sprintf("model.layers.%d.", i)
	return append(sd,
		NamedTensor{p + "input_layernorm.weight", []int{cfg.HiddenSize}, l.InputNorm},
		NamedTensor{p + "post_attention_layernorm.weight", []int{cfg.HiddenSize}, l.PostNorm})
}

// loadF32 reads tensor name as float32, checking its shape and rejecting
// NaN/Inf, and releases the mapped pages it read.
func loadF32(ck *checkpoint.Checkpoint, name string, shape ...int) ([]float32, error) {
	t, ok := ck.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q is missing", ck.Path, name)
	}
	if !sameShape(t.Shape, shape) {
		return nil, fmt.Errorf("%s: tensor %q has shape %v, config.json implies %v", ck.Path, name, t.Shape, shape)
	}
	return loadChunked(ck, t, name, convertChunk)
}

// loadChunked is loadF32's conversion of t, chunk source bytes at a time.
func loadChunked(ck *checkpoint.Checkpoint, t *tensor.Tensor, name string, chunk int) ([]float32, error) {
	raw, err := t.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %s: %w", ck.Path, name, err)
	}
	v := make([]float32, t.NumElements())
	// In chunks, each chunk's mapped pages released once converted, so
	// that a large tensor's source and float32 copy are not resident
	// together. (A size mismatch is converted whole, for ToFloat32's error.)
	es := t.DType.Size()
	step := len(v)
	if es > 0 && len(raw) == es*len(v) {
		step = max(1, chunk/es)
	} else {
		es = 0
	}
	for lo := 0; ; lo += step {
		hi := min(len(v), lo+step)
		src := raw
		if es > 0 {
			src = raw[lo*es : hi*es]
		}
		i, err := tensor.ToFloat32Finite(t.DType, src, v[lo:hi])
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", ck.Path, name, err)
		}
		releaseMapped(src)
		if i >= 0 {
			return nil, fmt.Errorf("%s: tensor %q has a non-finite value (%v) at element %d", ck.Path, name, v[lo+i], lo+i)
		}
		if hi >= len(v) {
			return v, nil
		}
	}
}

// convertChunk is the size of the source bytes loadF32 converts (and then
// releases) at a time.
const convertChunk = 32 << 20

// loadLinear reads name.weight [out][in] and, when bias, name.bias; a bias
// the architecture does not have is an error.
func loadLinear(ck *checkpoint.Checkpoint, name string, out, in int, bias bool) (Linear, error) {
	l := Linear{Name: name, Out: out, In: in}
	var err error
	if l.W, err = loadF32(ck, name+".weight", out, in); err != nil {
		return l, err
	}
	if bias {
		if l.B, err = loadF32(ck, name+".bias", out); err != nil {
			return l, err
		}
	} else if _, has := ck.Tensor(name + ".bias"); has {
		return l, fmt.Errorf("%s: unexpected tensor %q (this architecture has no bias there)", ck.Path, name+".bias")
	}
	return l, nil
}

// LoadEmbedding reads model.embed_tokens.weight, [vocab][hidden].
func LoadEmbedding(ck *checkpoint.Checkpoint, cfg *Config) ([]float32, error) {
	return loadF32(ck, "model.embed_tokens.weight", cfg.VocabSize, cfg.HiddenSize)
}

// LoadEmbeddingRows reads only the embedding rows of ids, [len(ids)][hidden]
// (what the forward's Embed would copy out of the whole table). Only those
// rows are checked for NaN/Inf.
func LoadEmbeddingRows(ck *checkpoint.Checkpoint, cfg *Config, ids []int) ([]float32, error) {
	const name = "model.embed_tokens.weight"
	t, ok := ck.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q is missing", ck.Path, name)
	}
	h := cfg.HiddenSize
	if !sameShape(t.Shape, []int{cfg.VocabSize, h}) {
		return nil, fmt.Errorf("%s: tensor %q has shape %v, config.json implies %v", ck.Path, name, t.Shape, []int{cfg.VocabSize, h})
	}
	raw, err := t.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %s: %w", ck.Path, name, err)
	}
	es := t.DType.Size()
	if int64(len(raw)) != t.NumBytes() {
		return nil, fmt.Errorf("%s: tensor %s: %d bytes, want %d", ck.Path, name, len(raw), t.NumBytes())
	}
	out := make([]float32, len(ids)*h)
	for r, id := range ids {
		if id < 0 || id >= cfg.VocabSize {
			return nil, fmt.Errorf("%s: token %d at index %d is outside the vocabulary [0,%d)", ck.Path, id, r, cfg.VocabSize)
		}
		dst := out[r*h : (r+1)*h]
		i, err := tensor.ToFloat32Finite(t.DType, raw[id*h*es:(id+1)*h*es], dst)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s row %d: %w", ck.Path, name, id, err)
		}
		if i >= 0 {
			return nil, fmt.Errorf("%s: tensor %q has a non-finite value (%v) at element %d", ck.Path, name, dst[i], id*h+i)
		}
	}
	releaseMapped(raw)
	return out, nil
}

// LoadLayer reads decoder layer i.
func LoadLayer(ck *checkpoint.Checkpoint, cfg *Config, i int) (*Layer, error) {
	if i < 0 || i >= cfg.NumLayers {
		return nil, fmt.Errorf("%s: layer %d out of range [0,%d)", ck.Path, i, cfg.NumLayers)
	}
	l := &Layer{}
	var err error
	for _, s := range layerLinears(cfg, i, l) {
		if *s.dst, err = loadLinear(ck, s.name, s.out, s.in, s.bias); err != nil {
			return nil, err
		}
	}
	p := fmt.Sprintf("model.layers.%d.", i)
	if l.InputNorm, err = loadF32(ck, p+"input_layernorm.weight", cfg.HiddenSize); err != nil {
		return nil, err
	}
	if l.PostNorm, err = loadF32(ck, p+"post_attention_layernorm.weight", cfg.HiddenSize); err != nil {
		return nil, err
	}
	return l, nil
}

// LoadNorm reads model.norm.weight.
func LoadNorm(ck *checkpoint.Checkpoint, cfg *Config) ([]float32, error) {
	return loadF32(ck, "model.norm.weight", cfg.HiddenSize)
}

// LoadHead reads lm_head: lm_head.weight, or, when the config ties the
// embeddings, a separate copy of model.embed_tokens.weight (untied).
func LoadHead(ck *checkpoint.Checkpoint, cfg *Config) (Linear, error) {
	l := Linear{Name: "lm_head", Out: cfg.VocabSize, In: cfg.HiddenSize}
	var err error
	switch _, has := ck.Tensor("lm_head.weight"); {
	case has && !cfg.TieWordEmbeddings:
		l.W, err = loadF32(ck, "lm_head.weight", cfg.VocabSize, cfg.HiddenSize)
	case cfg.TieWordEmbeddings:
		l.W, err = LoadEmbedding(ck, cfg)
	default:
		err = fmt.Errorf("%s: tensor \"lm_head.weight\" is missing and tie_word_embeddings is false", ck.Path)
	}
	return l, err
}
