package model

import (
	"fmt"
	"math"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// Linear is a PyTorch-style linear layer: y = x·Wᵀ + b.
type Linear struct {
	Name string    // module path, e.g. "model.layers.0.self_attn.q_proj"
	Out  int       // out_features
	In   int       // in_features
	W    []float32 // [Out][In] row-major
	B    []float32 // [Out], nil when the layer has no bias
}

// Layer is one decoder block.
type Layer struct {
	InputNorm []float32 // input_layernorm.weight [hidden]
	Q, K, V   Linear
	O         Linear
	Gate, Up  Linear
	Down      Linear
	PostNorm  []float32 // post_attention_layernorm.weight [hidden]
}

// Weights is a whole model in float32.
type Weights struct {
	Config *Config
	Embed  []float32 // model.embed_tokens.weight [vocab][hidden]
	Layers []Layer
	Norm   []float32 // model.norm.weight [hidden]
	// LMHead.W aliases Embed while the model is tied (Tied == true).
	LMHead Linear
	Tied   bool
}

// Linears returns pointers to every Linear in hook (first-call) order:
// per layer q, k, v, o, gate, up, down; then lm_head.
func (w *Weights) Linears() []*Linear {
	var out []*Linear
	for i := range w.Layers {
		l := &w.Layers[i]
		out = append(out, &l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down)
	}
	return append(out, &w.LMHead)
}

// NamedTensor is one entry of a state dict.
type NamedTensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// StateDict lists the weights in PyTorch module registration order (spec
// §4.1): embed_tokens; per layer q.weight, q.bias, k.weight, k.bias,
// v.weight, v.bias, o.weight, gate, up, down, input_layernorm,
// post_attention_layernorm; model.norm; lm_head. A tied model still lists
// lm_head.weight (sharing the embedding's data).
func (w *Weights) StateDict() []NamedTensor {
	c := w.Config
	var sd []NamedTensor
	add := func(name string, shape []int, d []float32) {
		sd = append(sd, NamedTensor{name, shape, d})
	}
	lin := func(l *Linear) {
		add(l.Name+".weight", []int{l.Out, l.In}, l.W)
		if l.B != nil {
			add(l.Name+".bias", []int{l.Out}, l.B)
		}
	}
	add("model.embed_tokens.weight", []int{c.VocabSize, c.HiddenSize}, w.Embed)
	for i := range w.Layers {
		l := &w.Layers[i]
		for _, x := range []*Linear{&l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down} {
			lin(x)
		}
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", []int{c.HiddenSize}, l.InputNorm)
		add(p+"post_attention_layernorm.weight", []int{c.HiddenSize}, l.PostNorm)
	}
	add("model.norm.weight", []int{c.HiddenSize}, w.Norm)
	lin(&w.LMHead)
	return sd
}

// Untie gives lm_head its own copy of the embedding (rotation needs it).
func (w *Weights) Untie() {
	if !w.Tied {
		return
	}
	w.LMHead.W = append([]float32(nil), w.Embed...)
	w.Tied = false
	w.Config.TieWordEmbeddings = false
}

// Load reads a checkpoint's config.json and weights into float32.
func Load(ck *checkpoint.Checkpoint) (*Weights, error) {
	raw, err := ck.Config()
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Dir, err)
	}
	return LoadWeights(ck, cfg)
}

// LoadWeights reads the tensors of cfg's architecture from ck, checking
// every shape against the config and rejecting NaN/Inf values.
func LoadWeights(ck *checkpoint.Checkpoint, cfg *Config) (*Weights, error) {
	h, kv, q, in := cfg.HiddenSize, cfg.KVDim(), cfg.QDim(), cfg.IntermediateSize
	get := func(name string, shape ...int) ([]float32, error) {
		t, ok := ck.Tensor(name)
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q is missing", ck.Path, name)
		}
		if !sameShape(t.Shape, shape) {
			return nil, fmt.Errorf("%s: tensor %q has shape %v, config.json implies %v", ck.Path, name, t.Shape, shape)
		}
		v, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ck.Path, err)
		}
		if i := firstNonFinite(v); i >= 0 {
			return nil, fmt.Errorf("%s: tensor %q has a non-finite value (%v) at element %d", ck.Path, name, v[i], i)
		}
		return v, nil
	}
	linear := func(name string, out, inF int, bias bool) (Linear, error) {
		l := Linear{Name: name, Out: out, In: inF}
		var err error
		if l.W, err = get(name+".weight", out, inF); err != nil {
			return l, err
		}
		if bias {
			if l.B, err = get(name+".bias", out); err != nil {
				return l, err
			}
		} else if _, has := ck.Tensor(name + ".bias"); has {
			return l, fmt.Errorf("%s: unexpected tensor %q (this architecture has no bias there)", ck.Path, name+".bias")
		}
		return l, nil
	}
	w := &Weights{Config: cfg}
	var err error
	if w.Embed, err = get("model.embed_tokens.weight", cfg.VocabSize, h); err != nil {
		return nil, err
	}
	w.Layers = make([]Layer, cfg.NumLayers)
	for i := range w.Layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		l := &w.Layers[i]
		steps := []struct {
			dst      *Linear
			name     string
			out, inF int
			bias     bool
		}{
			{&l.Q, p + "self_attn.q_proj", q, h, cfg.AttentionBias},
			{&l.K, p + "self_attn.k_proj", kv, h, cfg.AttentionBias},
			{&l.V, p + "self_attn.v_proj", kv, h, cfg.AttentionBias},
			{&l.O, p + "self_attn.o_proj", h, q, false},
			{&l.Gate, p + "mlp.gate_proj", in, h, false},
			{&l.Up, p + "mlp.up_proj", in, h, false},
			{&l.Down, p + "mlp.down_proj", h, in, false},
		}
		for _, s := range steps {
			if *s.dst, err = linear(s.name, s.out, s.inF, s.bias); err != nil {
				return nil, err
			}
		}
		if l.InputNorm, err = get(p+"input_layernorm.weight", h); err != nil {
			return nil, err
		}
		if l.PostNorm, err = get(p+"post_attention_layernorm.weight", h); err != nil {
			return nil, err
		}
	}
	if w.Norm, err = get("model.norm.weight", h); err != nil {
		return nil, err
	}
	w.LMHead = Linear{Name: "lm_head", Out: cfg.VocabSize, In: h}
	if _, has := ck.Tensor("lm_head.weight"); has && !cfg.TieWordEmbeddings {
		if w.LMHead.W, err = get("lm_head.weight", cfg.VocabSize, h); err != nil {
			return nil, err
		}
	} else if cfg.TieWordEmbeddings {
		w.LMHead.W = w.Embed
		w.Tied = true
	} else {
		return nil, fmt.Errorf("%s: tensor \"lm_head.weight\" is missing and tie_word_embeddings is false", ck.Path)
	}
	return w, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func firstNonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

// Tensor wraps a state-dict entry as an F32 tensor.
func (n NamedTensor) Tensor() *tensor.Tensor { return tensor.FromFloat32(n.Name, n.Shape, n.Data) }
