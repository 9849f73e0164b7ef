// Package export implements mllm's two export scripts on qnnkit's model:
//
//   - QNN (export_qnn_model.py, toolchain spec §4): the rotated model's
//     state dict with every profiled Linear weight quantized to int8 per
//     tensor and stored transposed ([in][out]) with its `.weight.scale`,
//     plus `input_scale`, `output_scale`, `clip_input`, `clip_output` per
//     profiled layer, chosen by the clip rule from the scale JSON;
//   - rotated FP32 (export_rotate_model.py, §5): the rotated state dict.
//
// Both produce an ordered list of lazily computed tensors (State), written
// either as a PyTorch .pth (torch.load(weights_only=True) reads it) or
// directly as the .mllm that mllm's converter.py would make from that .pth.
// A quantized weight is computed only when the writer asks for its bytes,
// so an export never holds a second copy of the model. A model opened with
// OpenModel is streamed: only the part being written (the embedding, one
// decoder layer, lm_head) is in memory, so peak memory does not grow with
// the number of layers, and the bytes are those of the loaded model.
package export

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/config"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/rotate"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// Model is a model opened for export, with where it came from: either
// loaded whole (LoadModel: Weights is set) or streamed (OpenModel: Weights
// is nil and each part — embedding, one decoder layer, norm, lm_head — is
// read from the memory-mapped checkpoint, fused and rotated only when a
// writer asks for its bytes, then dropped).
type Model struct {
	Weights  *model.Weights   // nil for a streamed model
	Rotation *rotate.Rotation // nil when online_rotation is off
	Config   *model.Config
	ck       *checkpoint.Checkpoint
	st       *stream // nil for a loaded model
}

// Close releases the checkpoint's mapped files.
func (m *Model) Close() error {
	if m.ck == nil {
		return nil
	}
	return m.ck.Close()
}

// checkModelConfig rejects the model configs the export cannot honour.
func checkModelConfig(mc config.ModelConfig) error {
	if mc.ModelType != config.ModelTypeQwen2 {
		return fmt.Errorf("model_config.model_type %q: only %q is supported by the export", mc.ModelType, config.ModelTypeQwen2)
	}
	if mc.OnlineRotation && mc.RandomRotate {
		return fmt.Errorf("model_config.random_rotate: the export must fold the same rotation the scales were profiled with; save it in profiling (save_rotation) and set R_path instead")
	}
	if mc.OnlineRotation && mc.RPath == "" {
		return fmt.Errorf("model_config.online_rotation is true but R_path is not set")
	}
	return nil
}

// LoadModel loads model_config.model_name in float32 and, when
// online_rotation is set, folds the R file R_path into it (spec §3.4, via
// rotate.RotateModel). log (may be nil) receives progress lines. It holds
// the whole model in memory; OpenModel streams it instead, with the same
// output bytes.
//
// random_rotate is refused: a freshly drawn rotation cannot match the scale
// JSON profiled with another one, and the NPU and CPU models must share the
// same R (spec §0, §1.5); draw and save it with `profile` and pass R_path.
func LoadModel(mc config.ModelConfig, log io.Writer) (*Model, error) {
	if err := checkModelConfig(mc); err != nil {
		return nil, err
	}
	logf(log, "loading %s\n", mc.ModelName)
	ck, err := checkpoint.Open(mc.ModelName)
	if err != nil {
		return nil, fmt.Errorf("model_config.model_name: %w", err)
	}
	w, err := model.Load(ck)
	if err != nil {
		ck.Close()
		return nil, err
	}
	m := &Model{Weights: w, Config: w.Config, ck: ck}
	if mc.OnlineRotation {
		rot, err := rotate.Load(mc.RPath)
		if err != nil {
			ck.Close()
			return nil, fmt.Errorf("model_config.R_path: %w", err)
		}
		logf(log, "rotating with %s\n", mc.RPath)
		if err := rotate.RotateModel(w, rot); err != nil {
			ck.Close()
			return nil, fmt.Errorf("rotate with %s: %w", mc.RPath, err)
		}
		m.Rotation = rot
	}
	return m, nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// State is an ordered state dict of lazily computed tensors: the .pth's
// insertion order and the .mllm's index order.
type State []*tensor.Tensor

// Names lists the keys in order.
func (s State) Names() []string {
	n := make([]string, len(s))
	for i, t := range s {
		n[i] = t.Name
	}
	return n
}

// RotatedState is export_rotate_model.py's output: the model's state dict
// in registration order (spec §4.1), every tensor float32 (fused, rotated,
// lm_head untied when rotated, norms 1.0).
func RotatedState(w *model.Weights) State {
	return rotatedState(weightsEntries(w))
}

// RotatedState is export_rotate_model.py's output for m (see the function
// RotatedState); for a streamed model, one part is in memory at a time
// while the state is written in order.
func (m *Model) RotatedState() State {
	return rotatedState(m.entries())
}

func rotatedState(es []entry) State {
	var s State
	for _, e := range es {
		s = append(s, e.tensor())
	}
	return s
}

// entry is one state-dict tensor whose float32 values are produced on
// demand.
type entry struct {
	name   string
	shape  []int
	values func() ([]float32, error)
}

// tensor is the entry as an F32 tensor whose bytes are produced only when
// read, so a State never holds a second copy of the weights.
func (e entry) tensor() *tensor.Tensor {
	return &tensor.Tensor{Name: e.name, DType: tensor.F32, Shape: e.shape, Data: func() ([]byte, error) {
		v, err := e.values()
		if err != nil {
			return nil, err
		}
		return f32Bytes(v), nil
	}}
}

// weightsEntries lists w's state dict.
func weightsEntries(w *model.Weights) []entry {
	var es []entry
	for _, e := range w.StateDict() {
		es = append(es, entry{e.Name, e.Shape, func() ([]float32, error) { return e.Data, nil }})
	}
	return es
}

// entries lists m's state dict (loaded or streamed).
func (m *Model) entries() []entry {
	if m.st != nil {
		return m.st.entries()
	}
	return weightsEntries(m.Weights)
}

// f32Bytes is v as little-endian bytes: an alias of v on a little-endian
// machine (the writers only read it), a copy otherwise.
func f32Bytes(v []float32) []byte {
	if len(v) == 0 || binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return tensor.Float32Bytes(v)
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}

// anyContains reports whether any pattern is a substring of s.
func anyContains(s string, patterns []string) bool {
	for _, p := range patterns {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
