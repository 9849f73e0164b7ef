package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/kernels"
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

// Apply computes rows rows of l's output, out = in·Wᵀ + B, for rows
// row0..row0+rows-1 of a call over total rows (all of them: row0 = 0,
// rows = total). With more than kernels.GemvMaxRows rows in total each
// output is summed in the order of torch's CPU Linear over the total rows
// (kernels.MatMulTTorch), so computing a call in blocks of rows gives the
// same bits; with fewer (decoding) the outputs are dot products, which
// read W once.
func (l *Linear) Apply(out, in []float32, rows, row0, total int) {
	x := in[:rows*l.In]
	if total > kernels.GemvMaxRows {
		kernels.MatMulTTorch(out, x, l.W, l.B, rows, l.Out, l.In,
			kernels.TorchGEMM{Tokens: total, Features: l.Out, Depth: l.In, Row0: row0})
		return
	}
	kernels.MatMulT(out, x, l.W, l.B, rows, l.Out, l.In)
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
		sd = append(sd, LayerStateDict(c, i, &w.Layers[i])...)
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
// every shape against the config, refusing decoder layers the config does
// not have (CheckLayerCount) and rejecting NaN/Inf values.
func LoadWeights(ck *checkpoint.Checkpoint, cfg *Config) (*Weights, error) {
	if err := CheckLayerCount(ck, cfg); err != nil {
		return nil, err
	}
	w := &Weights{Config: cfg}
	var err error
	if w.Embed, err = LoadEmbedding(ck, cfg); err != nil {
		return nil, err
	}
	w.Layers = make([]Layer, cfg.NumLayers)
	for i := range w.Layers {
		l, err := LoadLayer(ck, cfg, i)
		if err != nil {
			return nil, err
		}
		w.Layers[i] = *l
	}
	if w.Norm, err = LoadNorm(ck, cfg); err != nil {
		return nil, err
	}
	if cfg.TieWordEmbeddings {
		w.LMHead = Linear{Name: "lm_head", Out: cfg.VocabSize, In: cfg.HiddenSize, W: w.Embed}
		w.Tied = true
	} else if w.LMHead, err = LoadHead(ck, cfg); err != nil {
		return nil, err
	}
	return w, nil
}

// CheckLayerCount refuses a checkpoint with decoder layers beyond
// config.json's num_hidden_layers: a model built from the config would
// drop them silently (and every tool would quietly process a different
// model). Streamed loaders (LoadLayer one at a time) call it first.
func CheckLayerCount(ck *checkpoint.Checkpoint, cfg *Config) error {
	for _, t := range ck.Tensors {
		rest, ok := strings.CutPrefix(t.Name, "model.layers.")
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(idx); err == nil && n >= cfg.NumLayers {
			return fmt.Errorf("%s: tensor %q belongs to layer %d, but config.json has num_hidden_layers %d", ck.Dir, t.Name, n, cfg.NumLayers)
		}
	}
	return nil
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
