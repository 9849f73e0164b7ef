package runtime

import (
	"encoding/binary"
	"fmt"
	"math"
	goruntime "runtime"

	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/model"
)

// NPULayer holds one decoder layer of the NPU model.
type NPULayer struct {
	InputNorm, PostNorm []float32
	Q, K, V, O          QLinear
	Gate, Up, Down      QLinear
}

// NPUModel is the int8 NPU prefill model (runtime spec §4.2, toolchain
// spec §4.6): float32 embedding, norms and lm_head; int8 linears with
// their scales.
type NPUModel struct {
	Config *model.Config
	Embed  []float32 // [vocab][hidden]; may alias the file's map (read-only)
	Norm   []float32
	LMHead []float32 // [vocab][hidden]; may alias the file's map (read-only)
	Layers []NPULayer
	// Identity is true for a model built by NPUModelFromWeights: float
	// weights, no integer data.
	Identity bool
	// releaseLMHead drops the mapped pages of the file tensor LMHead views
	// from the resident set (nil: nothing to release).
	releaseLMHead func()
}

// ReleaseLMHead tells the OS that the lm_head's pages are not needed for
// now: after a prompt's prefill only the CPU decoder (with its own
// lm_head) runs. The data stays valid and is paged back in from the page
// cache if Logits runs again. It does nothing for a model not read from a
// mapped file.
func (m *NPUModel) ReleaseLMHead() {
	if m.releaseLMHead != nil {
		m.releaseLMHead()
	}
}

// LoadNPUModel reads the int8 NPU model file f with hyper-parameters cfg,
// checking every dtype and size. The float32 tensors (embedding, lm_head,
// norms) are views of f's memory map, not copies: f must stay open while
// the model is used. The int8 weights are transposed into memory outside
// the Go heap (see QLinear.W).
func LoadNPUModel(f *mllmfmt.File, cfg *model.Config) (*NPUModel, error) {
	h, v := cfg.HiddenSize, cfg.VocabSize
	f32 := func(name string, n int) ([]float32, error) {
		dt, b, err := f.Tensor(name)
		if err != nil {
			return nil, err
		}
		if dt != mllmfmt.F32 || len(b) != 4*n {
			return nil, fmt.Errorf("%s: tensor %q is %v with %d bytes, want F32 with %d elements", f.Path, name, dt, len(b), n)
		}
		return f32View(b), nil
	}
	scalar := func(name string) (float32, error) {
		x, err := f32(name, 1)
		if err != nil {
			return 0, err
		}
		return x[0], nil
	}
	flag := func(name string) (bool, bool) {
		dt, b, err := f.Tensor(name)
		if err != nil || len(b) < 1 {
			return true, false
		}
		if dt == mllmfmt.F32 && len(b) == 4 {
			return math.Float32frombits(binary.LittleEndian.Uint32(b)) != 0, true
		}
		return b[0] != 0, true
	}
	m := &NPUModel{Config: cfg}
	var err error
	if m.Embed, err = f32("model.embed_tokens.weight", v*h); err != nil {
		return nil, err
	}
	if m.Norm, err = f32("model.norm.weight", h); err != nil {
		return nil, err
	}
	if e, ok := f.Lookup("lm_head.weight"); ok {
		if m.LMHead, err = f32("lm_head.weight", v*h); err != nil {
			return nil, err
		}
		m.releaseLMHead = func() { f.Release(e) }
	} else if cfg.TieWordEmbeddings {
		m.LMHead = m.Embed
		e, _ := f.Lookup("model.embed_tokens.weight")
		m.releaseLMHead = func() { f.Release(e) }
	} else {
		return nil, fmt.Errorf("%s: no tensor \"lm_head.weight\" and config.json says the embeddings are untied", f.Path)
	}
	// The int8 weights are transposed at load to [Out][In] (the layout of
	// the integer dot products) into one buffer outside the Go heap, freed
	// once the Layers array is unreachable; each file tensor's mapped pages
	// are released after its copy is made.
	var wbuf []byte
	woff := 0
	lin := func(name string, in, out int, bias bool) (QLinear, error) {
		l := QLinear{Name: name, In: in, Out: out, ClipIn: true, ClipOut: true}
		dt, b, err := f.Tensor(name + ".weight")
		if err != nil {
			return l, err
		}
		if dt != mllmfmt.I8 || len(b) != in*out {
			return l, fmt.Errorf("%s: tensor %q is %v with %d bytes, want I8 [%d][%d]", f.Path, name+".weight", dt, len(b), in, out)
		}
		e, _ := f.Lookup(name + ".weight")
		l.W = i8View(wbuf[woff : woff+in*out])
		woff += in * out
		transposeI8(l.W, i8View(b), in, out, 0)
		f.Release(e) // the transposed copy is the only one kept resident
		if l.WScale, err = scalar(name + ".weight.scale"); err != nil {
			return l, err
		}
		if l.OutRange, err = scalar(name + ".output_scale"); err != nil {
			return l, err
		}
		if _, ok := f.Lookup(name + ".input_scale"); ok {
			if l.InRange, err = scalar(name + ".input_scale"); err != nil {
				return l, err
			}
		}
		if bias {
			if l.Bias, err = f32(name+".bias", out); err != nil {
				return l, fmt.Errorf("%w (an int32 bias, quant_bias=true, is not supported)", err)
			}
		}
		l.ClipIn, _ = flag(name + ".clip_input")
		l.ClipOut, _ = flag(name + ".clip_output")
		return l, nil
	}
	need := func(l *QLinear) error {
		if !(l.InRange > 0) {
			return fmt.Errorf("%s: tensor %q is missing or not positive", f.Path, l.Name+".input_scale")
		}
		return nil
	}
	m.Layers = make([]NPULayer, cfg.NumLayers)
	if len(m.Layers) > 0 {
		n := cfg.NumLayers * (cfg.QDim()*h + 2*cfg.KVDim()*h + cfg.QDim()*h + 3*cfg.IntermediateSize*h)
		var free func()
		wbuf, free = allocWeights(n)
		goruntime.AddCleanup(&m.Layers[0], func(f func()) { f() }, free)
	}
	for i := range m.Layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		L := &m.Layers[i]
		if L.InputNorm, err = f32(p+"input_layernorm.weight", h); err != nil {
			return nil, err
		}
		if L.PostNorm, err = f32(p+"post_attention_layernorm.weight", h); err != nil {
			return nil, err
		}
		for _, s := range []struct {
			dst     *QLinear
			name    string
			in, out int
			bias    bool
		}{
			{&L.Q, p + "self_attn.q_proj", h, cfg.QDim(), true},
			{&L.K, p + "self_attn.k_proj", h, cfg.KVDim(), true},
			{&L.V, p + "self_attn.v_proj", h, cfg.KVDim(), true},
			{&L.O, p + "self_attn.o_proj", cfg.QDim(), h, false},
			{&L.Gate, p + "mlp.gate_proj", h, cfg.IntermediateSize, false},
			{&L.Up, p + "mlp.up_proj", h, cfg.IntermediateSize, false},
			{&L.Down, p + "mlp.down_proj", cfg.IntermediateSize, h, false},
		} {
			if *s.dst, err = lin(s.name, s.in, s.out, s.bias && cfg.AttentionBias); err != nil {
				return nil, err
			}
		}
		for _, l := range []*QLinear{&L.Q, &L.O, &L.Up, &L.Down} {
			if err := need(l); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// NPUModelFromWeights wraps float32 weights for identity mode: the graph
// then runs every step without quantization (the wiring test).
func NPUModelFromWeights(w *model.Weights) *NPUModel {
	m := &NPUModel{Config: w.Config, Embed: w.Embed, Norm: w.Norm, LMHead: w.LMHead.W, Identity: true}
	fl := func(l *model.Linear) QLinear {
		return QLinear{Name: l.Name, In: l.In, Out: l.Out, F: l.W, Bias: l.B, ClipIn: true, ClipOut: true}
	}
	m.Layers = make([]NPULayer, len(w.Layers))
	for i := range w.Layers {
		l := &w.Layers[i]
		m.Layers[i] = NPULayer{InputNorm: l.InputNorm, PostNorm: l.PostNorm,
			Q: fl(&l.Q), K: fl(&l.K), V: fl(&l.V), O: fl(&l.O), Gate: fl(&l.Gate), Up: fl(&l.Up), Down: fl(&l.Down)}
	}
	return m
}

// Rotated reports whether the model looks like a rotated export (every
// RMSNorm weight exactly 1, as export with online rotation leaves them).
func (m *NPUModel) Rotated() bool {
	ones := func(w []float32) bool {
		for _, x := range w {
			if x != 1 {
				return false
			}
		}
		return true
	}
	for i := range m.Layers {
		if !ones(m.Layers[i].InputNorm) || !ones(m.Layers[i].PostNorm) {
			return false
		}
	}
	return ones(m.Norm)
}

// DefaultShadowLayers is the per-model default of --shadow-layers: none
// for rotated models (mllm's *-rotated configs have shadow_layers = {}),
// and for unrotated models every layer whose down_proj was exported with
// an outlier flag (clip_input or clip_output = 0), i.e. where the
// profiler found outliers that shadow execution recovers.
func (m *NPUModel) DefaultShadowLayers() []int {
	if m.Identity || m.Rotated() {
		return nil
	}
	var out []int
	for i := range m.Layers {
		d := &m.Layers[i].Down
		if !d.ClipIn || !d.ClipOut {
			out = append(out, i)
		}
	}
	return out
}
