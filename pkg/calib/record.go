package calib

import (
	"fmt"
	"runtime"

	"github.com/qnnkit/qnnkit/pkg/model"
)

// Counts returns the hooked layers of w in first-call order (per decoder
// layer q, k, v, o, gate, up, down; then lm_head, spec §2.2) and, per
// layer, the number of [input, output] values a run over samples of the
// given token lengths records (tokens × in_features, tokens × out_features).
func Counts(w *model.Weights, lengths []int) ([]string, map[string][2]int64, error) {
	var tokens int64
	for i, n := range lengths {
		if n < 1 {
			return nil, nil, fmt.Errorf("calib: sample %d has %d tokens", i, n)
		}
		tokens += int64(n)
	}
	var layers []string
	counts := map[string][2]int64{}
	for _, l := range w.Linears() {
		layers = append(layers, l.Name)
		counts[l.Name] = [2]int64{tokens * int64(l.In), tokens * int64(l.Out)}
	}
	return layers, counts, nil
}

// Recorder runs the FP32 forward pass of a model over one sample at a time
// and adds every Linear's input and output to a Stats, as
// get_distribution.py's hook does (spec §2.3): the input as given, the
// output with the bias subtracted again in float32 when NoBias is set
// ((x·Wᵀ+b)−b, exactly the original's arithmetic).
type Recorder struct {
	Model  *model.Model
	Stats  *Stats
	NoBias bool

	scratch []float32
}

// NewRecorder returns a recorder over w.
func NewRecorder(w *model.Weights, st *Stats, noBias bool) *Recorder {
	return &Recorder{Model: model.New(w), Stats: st, NoBias: noBias}
}

// Sample runs one prefill over tokens (a fresh sequence, like one
// model(**inputs) call) and records every Linear call.
func (r *Recorder) Sample(tokens []int) error {
	var hookErr error
	var last *model.Linear // the last decoder layer's down_proj
	if n := len(r.Model.W.Layers); n > 0 {
		last = &r.Model.W.Layers[n-1].Down
	}
	r.Model.Hook = func(l *model.Linear, in, out []float32, rows int) {
		if hookErr == nil {
			hookErr = r.Record(l, in, out, rows)
		}
		if l == last {
			// Collect the decoder layers' garbage before the
			// [tokens][vocab] logits are allocated: the sample's heap
			// peak is then the live data plus the logits, instead of
			// depending on where the logits fall in a GC cycle (up to
			// one cycle's garbage more, and the most unlucky of many
			// samples sets the peak RSS of a run).
			runtime.GC()
		}
	}
	defer func() { r.Model.Hook = nil }()
	if _, err := r.Model.Forward(tokens, nil); err != nil {
		return err
	}
	return hookErr
}

// Record adds one Linear call (in [rows][l.In], out [rows][l.Out] with the
// bias added) to r.Stats, as Sample's hook does: the input as given, the
// output with the bias subtracted again when NoBias is set. It does not
// modify in or out.
func (r *Recorder) Record(l *model.Linear, in, out []float32, rows int) error {
	if err := r.Stats.Add(l.Name, Input, in[:rows*l.In]); err != nil {
		return err
	}
	out = out[:rows*l.Out]
	if r.NoBias && l.B != nil {
		if cap(r.scratch) < len(out) {
			r.scratch = make([]float32, len(out))
		}
		ty := r.scratch[:len(out)]
		for i := 0; i < rows; i++ {
			row, dst := out[i*l.Out:(i+1)*l.Out], ty[i*l.Out:(i+1)*l.Out]
			for j, b := range l.B {
				dst[j] = row[j] - b
			}
		}
		out = ty
	}
	return r.Stats.Add(l.Name, Output, out)
}
