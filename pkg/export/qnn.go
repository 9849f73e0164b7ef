package export

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/qnnkit/qnnkit/pkg/calib"
	"github.com/qnnkit/qnnkit/pkg/config"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/quant"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// Rules are the per-key rules of export_qnn_model.py (spec §4.5): the
// model type's built-ins merged with model_config's skip_layers and
// special_quantization_rules.
type Rules struct {
	SkipExport   []string        // substring of a key → the key is dropped
	SkipLayers   []string        // substring of the key without .weight/.bias → kept fp32
	HeadLayers   []string        // substring of a key → a profiled layer's weight/bias kept fp32
	NoClipInput  map[string]bool // exact layer names whose input never clips
	NoClipOutput map[string]bool // exact layer names whose output never clips
}

// QwenRules returns the qwen2 built-ins (model_interface.py) merged with
// the config's lists.
func QwenRules(mc config.ModelConfig) Rules {
	r := Rules{
		SkipExport:   append([]string{"vision_tower"}, mc.SkipLayers.SkipExport...),
		SkipLayers:   append([]string{"lm_head", "merger"}, mc.SpecialQuantizationRules.SkipLayers...),
		HeadLayers:   append([]string{"head"}, mc.SpecialQuantizationRules.HeadLayers...),
		NoClipInput:  map[string]bool{},
		NoClipOutput: map[string]bool{},
	}
	for _, n := range mc.SkipLayers.NoClipInput {
		r.NoClipInput[n] = true
	}
	for _, n := range mc.SkipLayers.NoClipOutput {
		r.NoClipOutput[n] = true
	}
	return r
}

// QNNOptions tunes the QNN export.
type QNNOptions struct {
	// TrueDiv computes weight scales as amax/127 (CPU torch) instead of
	// the CUDA reciprocal amax·float32(1/127) mllm's script gets (spec §4.2).
	TrueDiv bool
}

// ClipReport is what export_qnn_model.py prints about the clip rule.
type ClipReport struct {
	ClipInput, ClipOutput     int
	NoClipInput, NoClipOutput []string // layer names, in all_stat order
}

// Print writes the counters in mllm's format.
func (c ClipReport) Print(w io.Writer) {
	fmt.Fprintf(w, "clip input num: %d\n", c.ClipInput)
	fmt.Fprintf(w, "clip output num: %d\n", c.ClipOutput)
	fmt.Fprintf(w, "no clip input num: %d\n", len(c.NoClipInput))
	for _, n := range c.NoClipInput {
		fmt.Fprintf(w, "no clip input: %s\n", n)
	}
	fmt.Fprintf(w, "no clip output num: %d\n", len(c.NoClipOutput))
	for _, n := range c.NoClipOutput {
		fmt.Fprintf(w, "no clip output: %s\n", n)
	}
}

// CheckLayers fails when the scale JSON's layers and the model's Linear
// layers differ in either direction (quirk Q18: mllm silently skips a
// layer missing from the JSON and writes scales for layers the model lacks).
func CheckLayers(w *model.Weights, sf *calib.ScaleFile, scalePath string) error {
	inModel := map[string]bool{}
	for _, l := range w.Linears() {
		inModel[l.Name] = true
	}
	inJSON := map[string]bool{}
	var extra, missing []string
	for _, l := range sf.Layers {
		inJSON[l] = true
		if !inModel[l] {
			extra = append(extra, l)
		}
	}
	for _, l := range w.Linears() {
		if !inJSON[l.Name] {
			missing = append(missing, l.Name)
		}
	}
	if len(extra) == 0 && len(missing) == 0 {
		return nil
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("%d Linear layer(s) of the model are missing from it (%s)", len(missing), short(missing)))
	}
	if len(extra) > 0 {
		parts = append(parts, fmt.Sprintf("%d layer(s) in it are not Linear layers of the model (%s)", len(extra), short(extra)))
	}
	return fmt.Errorf("scale file %s does not match the model: %s; was it profiled from this model?", scalePath, strings.Join(parts, "; "))
}

func short(names []string) string {
	if len(names) > 4 {
		return strings.Join(names[:4], ", ") + fmt.Sprintf(", … %d more", len(names)-4)
	}
	return strings.Join(names, ", ")
}

// CheckQNNConfig rejects export settings the QNN export cannot honour
// before any work is done: quant_bias (Q10) and a missing clip threshold.
func CheckQNNConfig(ec config.ExportConfig) error {
	if ec.QuantBias {
		return fmt.Errorf("export_config.quant_bias: int32 bias quantization is not supported (the v1 runtime reads such a bias as int8 bytes and converter.py writes it as float32, so no consistent file exists; spec §4.7, Q10)")
	}
	if ec.T01mClipThreshold == nil && !ec.ClipAll {
		return fmt.Errorf("export_config.t01m_clip_threshold is required unless clip_all is true")
	}
	return nil
}

// QNNState builds export_qnn_model.py's state dict (spec §4.4–4.5) for the
// loaded model w and scale file sf (read from scalePath, named in errors):
//
//  1. the clip rule per layer in all_stat order (t01m_clip_threshold with a
//     strict '>', clip_all, no_clip sets);
//  2. for each state-dict key in registration order: drop it on a
//     skip_export match; keep it fp32 on a skip_layers match (lm_head); if
//     it is a profiled layer's weight and not a head layer, store int8
//     [in][out] followed by `<key>.scale` (0-dim float32); a profiled
//     layer's bias stays fp32 (quant_bias is refused, Q10); anything else
//     is kept as is;
//  3. then, per layer in all_stat order, `L.input_scale`, `L.output_scale`
//     (0-dim float32) and `L.clip_input`, `L.clip_output` (0-dim bool).
//
// The weight scales are computed here (one pass over each weight, which
// also rejects NaN/Inf); the int8 bytes are computed when the writer reads
// them.
func QNNState(w *model.Weights, sf *calib.ScaleFile, scalePath string, ec config.ExportConfig, opt QNNOptions) (State, ClipReport, error) {
	return qnnState(w, weightsEntries(w), true, sf, scalePath, ec, opt)
}

// QNNState is the function QNNState for m. For a streamed model the weight
// scales, like the int8 bytes, are computed when the writer reads them, so
// the state is written with one part of the model in memory at a time.
func (m *Model) QNNState(sf *calib.ScaleFile, scalePath string, ec config.ExportConfig, opt QNNOptions) (State, ClipReport, error) {
	if m.st == nil {
		return QNNState(m.Weights, sf, scalePath, ec, opt)
	}
	return qnnState(model.Skeleton(m.Config), m.st.entries(), false, sf, scalePath, ec, opt)
}

// qnnState builds the QNN state from the state-dict entries es of the model
// whose names and sizes w gives. eager computes the weight scales now.
func qnnState(w *model.Weights, es []entry, eager bool, sf *calib.ScaleFile, scalePath string, ec config.ExportConfig, opt QNNOptions) (State, ClipReport, error) {
	var rep ClipReport
	if err := CheckQNNConfig(ec); err != nil {
		return nil, rep, err
	}
	if err := sf.Validate(); err != nil {
		return nil, rep, fmt.Errorf("scale file %s: %w", scalePath, err)
	}
	if err := CheckLayers(w, sf, scalePath); err != nil {
		return nil, rep, err
	}
	rules := QwenRules(ec.ModelConfig)
	decisions, err := sf.ClipDecisions(ec.T01mClipThreshold, ec.ClipAll, rules.NoClipInput, rules.NoClipOutput)
	if err != nil {
		return nil, rep, fmt.Errorf("scale file %s: %w", scalePath, err)
	}
	profiled := map[string]bool{}
	for _, d := range decisions {
		profiled[d.Layer] = true
		if d.ClipIn {
			rep.ClipInput++
		} else {
			rep.NoClipInput = append(rep.NoClipInput, d.Layer)
		}
		if d.ClipOut {
			rep.ClipOutput++
		} else {
			rep.NoClipOutput = append(rep.NoClipOutput, d.Layer)
		}
	}

	// model_dict: the state dict, then the scale keys, as export_model
	// builds it before its per-key loop.
	type item struct {
		t *tensor.Tensor
		e *entry // the state-dict entry, nil for a scale key
	}
	var items []item
	for i := range es {
		items = append(items, item{t: es[i].tensor(), e: &es[i]})
	}
	for _, d := range decisions {
		items = append(items,
			item{t: scalarF32(d.Layer+".input_scale", float32(d.ScaleIn))},
			item{t: scalarF32(d.Layer+".output_scale", float32(d.ScaleOut))},
			item{t: scalarBool(d.Layer+".clip_input", d.ClipIn)},
			item{t: scalarBool(d.Layer+".clip_output", d.ClipOut)},
		)
	}

	var out State
	for _, it := range items {
		key := it.t.Name
		switch {
		case anyContains(key, rules.SkipExport):
			continue
		case anyContains(strings.ReplaceAll(strings.ReplaceAll(key, ".weight", ""), ".bias", ""), rules.SkipLayers):
			out = append(out, it.t)
		case profiled[strings.ReplaceAll(key, ".weight", "")]:
			if anyContains(key, rules.HeadLayers) {
				out = append(out, it.t)
				continue
			}
			if it.e == nil || len(it.e.shape) != 2 {
				return nil, rep, fmt.Errorf("%s: a profiled layer's weight must be a 2-D state-dict tensor, got shape %v", key, it.t.Shape)
			}
			qt, st, err := quantizedWeight(key, it.e.values, it.e.shape[0], it.e.shape[1], opt.TrueDiv, eager)
			if err != nil {
				return nil, rep, err
			}
			out = append(out, qt, st)
		default:
			// A profiled layer's bias (quant_bias false) and every other
			// key are kept as they are.
			out = append(out, it.t)
		}
	}
	return out, rep, nil
}

// quantizedWeight returns the int8 [in][out] tensor of the [out][in]
// weight values gives and its 0-dim `key.scale` tensor. The int8 bytes are
// computed when read; the scale now when eager (which also rejects NaN/Inf
// here), else when read: from the quantization of the weight when that was
// read first (as the writers do: the weight precedes its scale), so the
// weight is read and scanned once.
func quantizedWeight(key string, values func() ([]float32, error), out, in int, trueDiv, eager bool) (*tensor.Tensor, *tensor.Tensor, error) {
	scaleOf := func() (float32, error) {
		v, err := values()
		if err != nil {
			return 0, err
		}
		amax, err := quant.AbsMax(v)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		return quant.Int8Scale(amax, trueDiv), nil
	}
	var st *tensor.Tensor
	var scale float32
	var mu sync.Mutex
	var quantized bool // scale holds the quantization's scale
	if eager {
		var err error
		if scale, err = scaleOf(); err != nil {
			return nil, nil, err
		}
		st = scalarF32(key+".scale", scale)
	} else {
		st = &tensor.Tensor{Name: key + ".scale", DType: tensor.F32, Shape: []int{}, Data: func() ([]byte, error) {
			mu.Lock()
			s, ok := scale, quantized
			mu.Unlock()
			if !ok {
				var err error
				if s, err = scaleOf(); err != nil {
					return nil, err
				}
			}
			return tensor.Float32Bytes([]float32{s}), nil
		}}
	}
	qt := &tensor.Tensor{Name: key, DType: tensor.I8, Shape: []int{in, out}, Data: func() ([]byte, error) {
		v, err := values()
		if err != nil {
			return nil, err
		}
		q, s, err := quant.QuantizeLinearInt8(v, out, in, trueDiv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if eager && s != scale {
			return nil, fmt.Errorf("%s: the weight changed after its scale was computed", key)
		}
		if !eager {
			mu.Lock()
			scale, quantized = s, true
			mu.Unlock()
		}
		return q, nil
	}}
	return qt, st, nil
}

func scalarF32(name string, v float32) *tensor.Tensor {
	return tensor.FromBytes(name, tensor.F32, []int{}, tensor.Float32Bytes([]float32{v}))
}

func scalarBool(name string, v bool) *tensor.Tensor {
	b := byte(0)
	if v {
		b = 1
	}
	return tensor.FromBytes(name, tensor.Bool, []int{}, []byte{b})
}
