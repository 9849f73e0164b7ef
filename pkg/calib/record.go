package calib

import (
	"fmt"
	"runtime/debug"

	"github.com/qnnkit/qnnkit/pkg/kernels"
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

	scratch         []float32
	headIn, headOut []float32 // Head's block buffers
}

// NewRecorder returns a recorder over w.
func NewRecorder(w *model.Weights, st *Stats, noBias bool) *Recorder {
	return &Recorder{Model: model.New(w), Stats: st, NoBias: noBias}
}

// Sample runs one prefill over tokens (a fresh sequence, like one
// model(**inputs) call) and records every Linear call. lm_head runs in
// blocks of rows (HeadRows), so the sample's [tokens][vocab] logits never
// exist at once: memory does not depend on the sample length's product
// with the vocabulary.
func (r *Recorder) Sample(tokens []int) error {
	m := r.Model
	c := m.W.Config
	for i, t := range tokens {
		if t < 0 || t >= c.VocabSize {
			return fmt.Errorf("calib: sample token %d at index %d is outside the vocabulary [0,%d)", t, i, c.VocabSize)
		}
	}
	var hookErr error
	m.Hook = func(l *model.Linear, in, out []float32, rows int) {
		if hookErr == nil {
			hookErr = r.Record(l, in, out, rows)
		}
	}
	defer func() { m.Hook = nil }()
	rows := len(tokens)
	x := m.Embed(tokens)
	for i := range m.W.Layers {
		// Collect the previous layer's activations and return their
		// pages before this layer allocates its own: the peak RSS is then
		// the live data plus one layer, every time, instead of depending on
		// where the collector's cycles and the scavenger fall (which made
		// it vary by ±10 MB on the bundled model, and the more samples a
		// run has, the worse its worst one). On the bundled model this
		// costs about 10 % more CPU time (page faults); the weights are
		// pointer-free, so a cycle itself takes milliseconds.
		debug.FreeOSMemory()
		if err := m.LayerForward(i, x, rows, nil); err != nil {
			return err
		}
		if hookErr != nil {
			return hookErr
		}
	}
	debug.FreeOSMemory()
	if err := r.Head(x, rows); err != nil {
		return err
	}
	return hookErr
}

// HeadRows is the largest block of rows Head passes to lm_head at once.
const HeadRows = 64

// Head applies the final norm and lm_head to rows rows of the residual
// stream x in blocks of at most HeadRows rows and records each block (as
// Record, not through the model's hook), reusing one block's buffers: for
// a large vocabulary the logits of a whole sample, or a collector's cycle
// of them, would be the largest allocation of a run. Every block has more
// rows than the matrix-vector path of pkg/kernels takes (a short last
// block joins the one before it), so each row's logits are bit-identical
// to those of Model.Logits over all rows.
func (r *Recorder) Head(x []float32, rows int) error {
	w := r.Model.W
	c := w.Config
	hid := c.HiddenSize
	l := &w.LMHead
	for _, b := range headBlocks(rows) {
		n := b[1] - b[0]
		r.headIn = growF32(r.headIn, n*hid)
		r.headOut = growF32(r.headOut, n*l.Out)
		model.RMSNorm(r.headIn, x[b[0]*hid:b[1]*hid], w.Norm, n, c.RMSNormEps)
		l.Apply(r.headOut, r.headIn, n, b[0], rows)
		if err := r.Record(l, r.headIn, r.headOut, n); err != nil {
			return err
		}
	}
	return nil
}

func growF32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// headBlocks splits [0, rows) into blocks of HeadRows rows; a last block
// of kernels.GemvMaxRows rows or fewer is merged into the previous one.
func headBlocks(rows int) [][2]int {
	var bs [][2]int
	for r0 := 0; r0 < rows; r0 += HeadRows {
		r1 := min(r0+HeadRows, rows)
		if n := len(bs); n > 0 && r1-r0 <= kernels.GemvMaxRows {
			bs[n-1][1] = r1
			break
		}
		bs = append(bs, [2]int{r0, r1})
	}
	return bs
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
