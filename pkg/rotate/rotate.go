package rotate

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/qnnkit/qnnkit/pkg/model"
)

// Rotation is the pair of rotations mllm folds into a Qwen2 model: R for
// the residual stream and one R_v per layer for the value heads.
type Rotation struct {
	R []float64 // n×n row-major
	N int       // hidden size
	// Rv holds one head_dim×head_dim row-major matrix per layer; a file
	// whose R_v is a single tensor gives len(Rv) == 1 and RvShared (the
	// matrix is then used for every layer, as mllm does). Nil means no
	// value rotation (mllm's R_v=None).
	Rv       [][]float64
	RvShared bool
	HeadDim  int
	// Seed is the seed NewRotation drew the signs from (0 and meaningless
	// for a rotation read from a file; see Source).
	Seed uint64
	// Source describes where the rotation came from: "seed N" or the file.
	Source string
}

// NewRNG returns the generator NewRotation uses for a seed: PCG (math/rand/v2)
// seeded with (seed, 0).
func NewRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

// NewRotation draws R = RandomHadamard(hidden) and R_v[0..layers-1] =
// RandomHadamard(headDim) from NewRNG(seed), in that order (mllm's RNG
// consumption order: R's signs, then R_v[0], …, R_v[L−1]).
func NewRotation(hidden, headDim, layers int, seed uint64) (*Rotation, error) {
	if layers < 0 {
		return nil, fmt.Errorf("rotate: %d layers", layers)
	}
	rng := NewRNG(seed)
	r, err := RandomHadamard(hidden, rng)
	if err != nil {
		return nil, fmt.Errorf("rotate: R (hidden size %d): %w", hidden, err)
	}
	rot := &Rotation{R: r, N: hidden, HeadDim: headDim, Seed: seed, Source: fmt.Sprintf("seed %d", seed)}
	if _, _, err := HadK(headDim); err != nil {
		return nil, fmt.Errorf("rotate: R_v (head_dim %d): %w", headDim, err)
	}
	rot.Rv = make([][]float64, layers)
	for l := range rot.Rv {
		if rot.Rv[l], err = RandomHadamard(headDim, rng); err != nil {
			return nil, err
		}
	}
	return rot, nil
}

// Validate checks the matrices' sizes and values.
func (r *Rotation) Validate() error {
	if r.N <= 0 || len(r.R) != r.N*r.N {
		return fmt.Errorf("rotate: R has %d elements for size %d", len(r.R), r.N)
	}
	if i := firstNonFinite(r.R); i >= 0 {
		return fmt.Errorf("rotate: R[%d][%d] is %v", i/r.N, i%r.N, r.R[i])
	}
	if r.RvShared && len(r.Rv) != 1 {
		return fmt.Errorf("rotate: a shared R_v must be one matrix, have %d", len(r.Rv))
	}
	for l, m := range r.Rv {
		if r.HeadDim <= 0 || len(m) != r.HeadDim*r.HeadDim {
			return fmt.Errorf("rotate: R_v[%d] has %d elements for head_dim %d", l, len(m), r.HeadDim)
		}
		if i := firstNonFinite(m); i >= 0 {
			return fmt.Errorf("rotate: R_v[%d][%d][%d] is %v", l, i/r.HeadDim, i%r.HeadDim, m[i])
		}
	}
	return nil
}

// RvFor returns layer l's R_v (nil when there is no value rotation).
func (r *Rotation) RvFor(l int) []float64 {
	switch {
	case r.Rv == nil:
		return nil
	case r.RvShared:
		return r.Rv[0]
	}
	return r.Rv[l]
}

func firstNonFinite(v []float64) int {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return i
		}
	}
	return -1
}

// RotateModel folds rot into w exactly in mllm's order (spec §3.4):
//
//  1. untie: lm_head gets its own copy of the embedding;
//  2. fuse norms: q/k/v ← W·diag(input_layernorm), up/gate ←
//     W·diag(post_attention_layernorm), lm_head ← W·diag(model.norm), each
//     as one float32 product; the norm weights become 1;
//  3. rotate: E ← E·R; per layer q, k, v ← W·R; o ← Rᵀ·W; v ← B_kvᵀ·W and
//     b_v ← b_v·B_kv; o ← W·B_qo (B = block_diag(R_v[l]) per kv / q head);
//     up, gate ← W·R; down ← Rᵀ·W; finally lm_head ← W·R.
//
// Every product is computed in float64 from the float32 weights and rounded
// to float32 once per step. Matrices of mllm's random Hadamard form use a
// fast Walsh–Hadamard transform; any other R uses a dense float64 product
// summed in index order. The result does not depend on the number of
// goroutines. Like mllm, head_dim for R_v is hidden_size/num_heads, and
// config.TieWordEmbeddings is cleared.
//
// Sizes are checked against the config before anything is modified; an
// error after that (only possible for Weights inconsistent with their
// Config) leaves w partially rotated.
func RotateModel(w *model.Weights, rot *Rotation) error {
	return RotateModelOptions(w, rot, Options{})
}

// Options tunes RotateModelOptions. The zero value is RotateModel's
// behaviour.
type Options struct {
	// Workers is the number of goroutines (0: GOMAXPROCS). The result is
	// the same for every value.
	Workers int
	// Dense forces the dense float64 product even for Hadamard matrices
	// (for cross-checks; much slower).
	Dense bool
}

// RotateModelOptions is RotateModel with explicit options.
func RotateModelOptions(w *model.Weights, rot *Rotation, opt Options) error {
	o := options{workers: opt.Workers, dense: opt.Dense}
	if o.workers <= 0 {
		o.workers = defaultWorkers()
	}
	return rotateModel(w, rot, o)
}

type options struct {
	workers int
	dense   bool
}

func rotateModel(w *model.Weights, rot *Rotation, o options) error {
	c := w.Config
	r, err := newRotator(c, rot, o)
	if err != nil {
		return err
	}
	if len(w.Layers) != c.NumLayers {
		return fmt.Errorf("rotate: %d layers, config says %d", len(w.Layers), c.NumLayers)
	}
	// (1) untie
	w.Untie()
	// (2) fuse norms and (3) rotate, part by part: every step touches one
	// tensor, so the order of the parts does not change the result.
	if err := r.Embedding(w.Embed); err != nil {
		return err
	}
	for i := range w.Layers {
		if err := r.Layer(i, &w.Layers[i]); err != nil {
			return err
		}
	}
	return r.Head(&w.LMHead, w.Norm)
}

// Rotator folds a rotation into a model one part at a time — the
// embedding, each decoder layer, the final norm with lm_head — with exactly
// RotateModel's arithmetic, so a caller can stream a model that does not fit
// in memory: applying Embedding, Layer(i) for every i and Head to the parts
// of an untied model gives the same bytes as RotateModel.
type Rotator struct {
	cfg *model.Config
	rot *Rotation
	e   *engine
	opR vecOp
	opV vecOp // the shared R_v's operator (RvShared only)
	hd  int
	o   options
}

// NewRotator checks rot against cfg (the checks RotateModel makes before
// modifying anything) and prepares the operators.
func NewRotator(cfg *model.Config, rot *Rotation, opt Options) (*Rotator, error) {
	o := options{workers: opt.Workers, dense: opt.Dense}
	if o.workers <= 0 {
		o.workers = defaultWorkers()
	}
	return newRotator(cfg, rot, o)
}

func newRotator(c *model.Config, rot *Rotation, o options) (*Rotator, error) {
	if err := rot.Validate(); err != nil {
		return nil, err
	}
	if rot.N != c.HiddenSize {
		return nil, fmt.Errorf("rotate: R is %dx%d but hidden_size is %d", rot.N, rot.N, c.HiddenSize)
	}
	hd := c.HiddenSize / c.NumHeads
	if c.HiddenSize%c.NumHeads != 0 || hd != c.HeadDim {
		return nil, fmt.Errorf("rotate: head_dim %d differs from hidden_size/num_attention_heads = %d/%d; mllm's rotation assumes they are equal", c.HeadDim, c.HiddenSize, c.NumHeads)
	}
	if rot.Rv != nil {
		if rot.HeadDim != hd {
			return nil, fmt.Errorf("rotate: R_v is %dx%d but head_dim is %d", rot.HeadDim, rot.HeadDim, hd)
		}
		if !rot.RvShared && len(rot.Rv) != c.NumLayers {
			return nil, fmt.Errorf("rotate: %d R_v matrices for %d layers", len(rot.Rv), c.NumLayers)
		}
	}
	r := &Rotator{cfg: c, rot: rot, e: newEngine(o.workers), opR: newOp(rot.R, c.HiddenSize, o.dense), hd: hd, o: o}
	if rot.RvShared {
		r.opV = newOp(rot.Rv[0], hd, o.dense)
	}
	return r, nil
}

// fuse sets W[o][i] *= g[i] for every Linear (a float64 product of two
// float32 values is exact, so this equals the float32 multiply) and then
// every g to 1.
func fuse(g []float32, ls ...*model.Linear) error {
	for _, l := range ls {
		if err := fuseCheck(g, l); err != nil {
			return err
		}
		for o := 0; o < l.Out; o++ {
			row := l.W[o*l.In : (o+1)*l.In]
			for i := range row {
				row[i] = float32(float64(row[i]) * float64(g[i]))
			}
		}
	}
	for i := range g {
		g[i] = 1
	}
	return nil
}

// fuseCheck is fuse's shape check of one Linear.
func fuseCheck(g []float32, l *model.Linear) error {
	if l.In != len(g) || len(l.W) != l.Out*l.In {
		return fmt.Errorf("rotate: %s is %dx%d, norm has %d weights", l.Name, l.Out, l.In, len(g))
	}
	return nil
}

// rightCheck is right's shape check.
func (r *Rotator) rightCheck(l *model.Linear) error {
	if h := r.cfg.HiddenSize; l.In != h || len(l.W) != l.Out*l.In {
		return fmt.Errorf("rotate: %s is %dx%d with %d weights, want %d inputs", l.Name, l.Out, l.In, len(l.W), h)
	}
	return nil
}

// right sets W ← W·R.
func (r *Rotator) right(l *model.Linear) error {
	if err := r.rightCheck(l); err != nil {
		return err
	}
	r.e.rightMul(l.W, r.opR)
	return nil
}

// fusedR returns R's operator when W ← W·diag(g)·R can run as one pass on
// the fast path (the same bytes as fuse followed by right), else nil.
func (r *Rotator) fusedR() *hadamard {
	if h, ok := r.opR.(*hadamard); ok && r.e.kern != nil && h.fastOK() {
		return h
	}
	return nil
}

// fuseRight is fuse(g, ls...) followed by right(l) for each l, in one pass
// per matrix when fusedR allows it. All shapes are checked before anything
// is modified; g becomes 1.
func (r *Rotator) fuseRight(g []float32, ls ...*model.Linear) error {
	h := r.fusedR()
	if h == nil {
		if err := fuse(g, ls...); err != nil {
			return err
		}
		for _, l := range ls {
			if err := r.right(l); err != nil {
				return err
			}
		}
		return nil
	}
	for _, l := range ls {
		if err := fuseCheck(g, l); err != nil {
			return err
		}
	}
	for _, l := range ls {
		if err := r.rightCheck(l); err != nil {
			return err
		}
	}
	for _, l := range ls {
		r.e.rightMulFast(l.W, h, g)
	}
	for i := range g {
		g[i] = 1
	}
	return nil
}

// leftT sets W ← Rᵀ·W and b ← b·R (rotate_output).
func (r *Rotator) leftT(l *model.Linear) error {
	if h := r.cfg.HiddenSize; l.Out != h || len(l.W) != l.Out*l.In {
		return fmt.Errorf("rotate: %s is %dx%d with %d weights, want %d outputs", l.Name, l.Out, l.In, len(l.W), h)
	}
	r.e.leftMulT(l.W, l.In, r.opR)
	if l.B != nil {
		if err := checkLen(l.Name+".bias", l.B, r.cfg.HiddenSize); err != nil {
			return err
		}
		r.e.rightMul(l.B, r.opR)
	}
	return nil
}

// Embedding sets E ← E·R (E is [vocab][hidden], or any number of rows).
func (r *Rotator) Embedding(e []float32) error {
	if err := checkLen("model.embed_tokens.weight", e, r.cfg.HiddenSize); err != nil {
		return err
	}
	r.e.rightMul(e, r.opR)
	return nil
}

// Layer fuses and rotates decoder layer i in place: q/k/v ← W·diag(input
// norm), up/gate ← W·diag(post norm), norms ← 1; then q, k, v ← W·R;
// o ← Rᵀ·W; with R_v[i]: v ← B_kvᵀ·W, b_v ← b_v·B_kv, o ← W·B_qo; up,
// gate ← W·R; down ← Rᵀ·W.
func (r *Rotator) Layer(i int, l *model.Layer) error {
	if i < 0 || i >= r.cfg.NumLayers {
		return fmt.Errorf("rotate: layer %d out of range [0,%d)", i, r.cfg.NumLayers)
	}
	if r.fusedR() != nil {
		// Check what fuse and right check for up and gate before
		// anything is modified, as the separate fuse steps do.
		for _, x := range []*model.Linear{&l.Up, &l.Gate} {
			if err := fuseCheck(l.PostNorm, x); err != nil {
				return err
			}
		}
		if err := r.fuseRight(l.InputNorm, &l.Q, &l.K, &l.V); err != nil {
			return err
		}
	} else {
		if err := fuse(l.InputNorm, &l.Q, &l.K, &l.V); err != nil {
			return err
		}
		if err := fuse(l.PostNorm, &l.Up, &l.Gate); err != nil {
			return err
		}
		for _, x := range []*model.Linear{&l.Q, &l.K, &l.V} {
			if err := r.right(x); err != nil {
				return err
			}
		}
	}
	if err := r.leftT(&l.O); err != nil {
		return err
	}
	if rv := r.rot.RvFor(i); rv != nil {
		hd := r.hd
		opV := r.opV
		if opV == nil {
			opV = newOp(rv, hd, r.o.dense)
		}
		// v_proj: W ← B_kvᵀ·W (per kv head, the hd×hidden block
		// ← R_vᵀ·block); b_v ← b_v·B_kv.
		if err := checkLen(l.V.Name+".weight", l.V.W, hd*l.V.In); err != nil {
			return err
		}
		r.e.leftMulT(l.V.W, l.V.In, opV)
		if l.V.B != nil {
			if err := checkLen(l.V.Name+".bias", l.V.B, hd); err != nil {
				return err
			}
			r.e.rightMul(l.V.B, opV)
		}
		// o_proj: W ← W·B_qo (each head segment of each row ← seg·R_v).
		if err := checkLen(l.O.Name+".weight", l.O.W, hd); err != nil {
			return err
		}
		r.e.rightMul(l.O.W, opV)
	}
	// up, gate ← W·R (fused with post_attention_layernorm on the fast
	// path; fuseRight with g = PostNorm and already-fused weights would
	// be wrong, so each branch does its own).
	if r.fusedR() != nil {
		if err := r.fuseRight(l.PostNorm, &l.Up, &l.Gate); err != nil {
			return err
		}
	} else {
		if err := r.right(&l.Up); err != nil {
			return err
		}
		if err := r.right(&l.Gate); err != nil {
			return err
		}
	}
	return r.leftT(&l.Down)
}

// Head fuses the final norm into lm_head (W ← W·diag(norm), norm ← 1) and
// rotates it (W ← W·R). lm_head must be untied (its own copy of the
// weights).
func (r *Rotator) Head(lm *model.Linear, norm []float32) error {
	return r.fuseRight(norm, lm)
}
