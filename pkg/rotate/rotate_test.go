package rotate

import (
	"math"
	"math/big"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// ulpDiff is the distance in float32 units in the last place (±0 equal).
func ulpDiff(a, b float32) int64 {
	ia, ib := int64(math.Float32bits(a)), int64(math.Float32bits(b))
	if ia&(1<<31) != 0 {
		ia = -(ia & 0x7fffffff)
	}
	if ib&(1<<31) != 0 {
		ib = -(ib & 0x7fffffff)
	}
	d := ia - ib
	if d < 0 {
		d = -d
	}
	return d
}

func randWeights(rng *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * scale)
	}
	return v
}

// TestOpsAgree compares the Walsh–Hadamard path with the dense float64
// product on random data: every element within 1 ulp after the float32
// rounding, and the mismatch count reported.
func TestOpsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	e := &engine{workers: 2}
	total, mism := 0, 0
	for _, tc := range []struct{ n, rows int }{{4, 50}, {12, 300}, {24, 200}, {40, 200}, {64, 300}, {80, 100}, {112, 100}, {256, 300}, {1536, 20}} {
		r, err := RandomHadamard(tc.n, rng)
		if err != nil {
			t.Fatal(err)
		}
		h := factorHadamard(r, tc.n)
		if h == nil {
			t.Fatalf("n=%d: not recognised", tc.n)
		}
		w := randWeights(rng, tc.rows*tc.n, 0.05)
		// a few huge and tiny values to stress the float64 sums
		w[0], w[1], w[2] = 1e4, 1e-20, -3e-8
		a := append([]float32(nil), w...)
		b := append([]float32(nil), w...)
		e.rightMul(a, h)
		e.rightMul(b, &denseOp{n: tc.n, a: r})
		c := append([]float32(nil), w...)
		d := append([]float32(nil), w...)
		e.leftMulT(c, tc.rows, h)
		e.leftMulT(d, tc.rows, &denseOp{n: tc.n, a: r})
		for i := range a {
			for _, p := range [][2]float32{{a[i], b[i]}, {c[i], d[i]}} {
				total++
				switch u := ulpDiff(p[0], p[1]); {
				case u > 1:
					t.Fatalf("n=%d: element %d: WHT %v vs dense %v (%d ulp)", tc.n, i, p[0], p[1], u)
				case u == 1:
					mism++
				}
			}
		}
	}
	t.Logf("WHT vs dense float64: %d of %d elements differ by 1 ulp, none by more", mism, total)
}

// TestDenseExact checks the dense kernel bit-for-bit against big.Float
// emulating "round the product to float64, then round the sum" in index
// order (an FMA would skip the product rounding), and against the exact
// value (within 1 float32 ulp after rounding).
func TestDenseExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 96
	r, _ := RandomHadamard(n, rng)
	// Make the products inexact in float64: a general (non-Hadamard) matrix.
	for i := range r {
		r[i] *= 1 + rng.Float64()*1e-3
	}
	op := &denseOp{n: n, a: r}
	const rows = 8
	w := randWeights(rng, rows*n, 1)
	x := make([]float64, n*rows)
	for c := 0; c < rows; c++ {
		for k := 0; k < n; k++ {
			x[k*rows+c] = float64(w[c*n+k])
		}
	}
	y := append([]float64(nil), x...)
	op.apply(y, rows, make([]float64, n*rows))
	f64 := func(v float64) *big.Float { return new(big.Float).SetPrec(53).SetFloat64(v) }
	for _, c := range []int{0, 3, 7} {
		for _, j := range []int{0, 1, 50, 95} {
			acc := f64(0)
			exact := new(big.Float).SetPrec(2000)
			for k := 0; k < n; k++ {
				p := new(big.Float).SetPrec(53).Mul(f64(x[k*rows+c]), f64(r[k*n+j]))
				acc = new(big.Float).SetPrec(53).Add(acc, p)
				ep := new(big.Float).SetPrec(2000).Mul(f64(x[k*rows+c]), f64(r[k*n+j]))
				exact.Add(exact, ep)
			}
			want, _ := acc.Float64()
			if got := y[j*rows+c]; got != want {
				t.Fatalf("vector %d element %d: %v, want %v (unfused emulation)", c, j, got, want)
			}
			ex32, _ := exact.Float32()
			if u := ulpDiff(float32(want), ex32); u > 1 {
				t.Fatalf("vector %d element %d: %v vs exact %v", c, j, float32(want), ex32)
			}
		}
	}
}

func TestNvecIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for _, n := range []int{24, 64} {
		r, _ := RandomHadamard(n, rng)
		for _, op := range []vecOp{factorHadamard(r, n), &denseOp{n: n, a: r}} {
			w := randWeights(rng, 5*n, 1)
			var outs [][]float64
			for _, nv := range []int{1, 5} {
				var all []float64
				for c0 := 0; c0 < 5; c0 += nv {
					x := make([]float64, n*nv)
					for c := 0; c < nv; c++ {
						for k := 0; k < n; k++ {
							x[k*nv+c] = float64(w[(c0+c)*n+k])
						}
					}
					op.apply(x, nv, make([]float64, n*nv))
					for c := 0; c < nv; c++ {
						for k := 0; k < n; k++ {
							all = append(all, x[k*nv+c])
						}
					}
				}
				outs = append(outs, all)
			}
			if !reflect.DeepEqual(outs[0], outs[1]) {
				t.Fatalf("n=%d %T: result depends on the number of vectors per call", n, op)
			}
		}
	}
}

func TestLoadMllmRFile(t *testing.T) {
	rot, err := Load("../../testdata/rotate/R-seed3.bin")
	if err != nil {
		t.Fatal(err)
	}
	if rot.N != 256 || len(rot.R) != 256*256 || rot.HeadDim != 64 || len(rot.Rv) != 4 || rot.RvShared {
		t.Fatalf("R %d (%d values), head_dim %d, %d R_v, shared %v", rot.N, len(rot.R), rot.HeadDim, len(rot.Rv), rot.RvShared)
	}
	check := func(name string, m []float64, n int) {
		inv := 1 / Divisor(n)
		for i, v := range m {
			if v != inv && v != -inv {
				t.Fatalf("%s[%d] = %v, want ±%v", name, i, v, inv)
			}
		}
		if factorHadamard(m, n) == nil {
			t.Fatalf("%s is not of mllm's random Hadamard form", name)
		}
	}
	check("R", rot.R, 256)
	for l, m := range rot.Rv {
		check("R_v", m, 64)
		if l > 0 && reflect.DeepEqual(m, rot.Rv[0]) {
			t.Errorf("R_v[%d] equals R_v[0]: signs should be fresh per layer", l)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	rot, err := NewRotation(24, 4, 3, 42)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := NewRotation(24, 4, 3, 42)
	if !reflect.DeepEqual(rot, again) {
		t.Fatal("NewRotation is not reproducible")
	}
	other, _ := NewRotation(24, 4, 3, 43)
	if reflect.DeepEqual(rot.R, other.R) {
		t.Fatal("seeds 42 and 43 gave the same R")
	}
	shared := &Rotation{R: rot.R, N: 24, Rv: rot.Rv[:1], RvShared: true, HeadDim: 4}
	none := &Rotation{R: rot.R, N: 24}
	for name, r := range map[string]*Rotation{"list": rot, "shared": shared, "none": none} {
		p := filepath.Join(dir, name+".bin")
		if err := r.Save(p); err != nil {
			t.Fatal(err)
		}
		back, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.R, r.R) || !reflect.DeepEqual(back.Rv, r.Rv) || back.RvShared != r.RvShared ||
			back.N != r.N || (r.Rv != nil && back.HeadDim != r.HeadDim) || back.Source != p {
			t.Fatalf("%s: round trip changed the rotation", name)
		}
	}
	// The stream order: R's signs first, then R_v[0..L-1].
	rng := NewRNG(42)
	r0, _ := RandomHadamard(24, rng)
	v0, _ := RandomHadamard(4, rng)
	v1, _ := RandomHadamard(4, rng)
	if !reflect.DeepEqual(r0, rot.R) || !reflect.DeepEqual(v0, rot.Rv[0]) || !reflect.DeepEqual(v1, rot.Rv[1]) {
		t.Fatal("NewRotation does not consume the RNG as R, R_v[0], R_v[1], ...")
	}
	if _, err := NewRotation(4864, 128, 1, 1); err == nil || !strings.Contains(err.Error(), "4864") {
		t.Fatalf("unsupported hidden size: %v", err)
	}
	if _, err := NewRotation(256, 96+1, 1, 1); err == nil || !strings.Contains(err.Error(), "head_dim 97") {
		t.Fatalf("unsupported head_dim: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	f64 := func(shape ...int) *tensor.Tensor {
		return tensor.FromBytes("t", tensor.F64, shape, make([]byte, 8*tensor.NumElements(shape)))
	}
	i64 := tensor.FromBytes("t", tensor.I64, []int{2, 2}, make([]byte, 32))
	ok := f64(4, 4)
	tests := []struct {
		name string
		root any
		want string
	}{
		{"not a dict", []any{ok}, "want a dict"},
		{"no R", &pth.Dict{Keys: []any{"R_v"}, Values: []any{nil}}, `key "R" is missing`},
		{"no R_v", &pth.Dict{Keys: []any{"R"}, Values: []any{ok}}, `key "R_v" is missing`},
		{"R not square", &pth.Dict{Keys: []any{"R", "R_v"}, Values: []any{f64(4, 3), nil}}, "R has shape [4 3]"},
		{"R integer", &pth.Dict{Keys: []any{"R", "R_v"}, Values: []any{i64, nil}}, "dtype I64"},
		{"R_v string", &pth.Dict{Keys: []any{"R", "R_v"}, Values: []any{ok, "x"}}, `"R_v" is a string`},
		{"R_v empty", &pth.Dict{Keys: []any{"R", "R_v"}, Values: []any{ok, []any{}}}, "empty list"},
		{"R_v sizes", &pth.Dict{Keys: []any{"R", "R_v"}, Values: []any{ok, []any{f64(2, 2), f64(4, 4)}}}, "R_v[1] is 4x4 but R_v[0] is 2x2"},
		{"R_v item", &pth.Dict{Keys: []any{"R", "R_v"}, Values: []any{ok, []any{f64(2, 2), 3}}}, "R_v[1] is a int"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".bin")
			if err := pth.Save(p, tc.root); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want %q and the path", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.bin")); err == nil {
		t.Fatal("missing file accepted")
	}
}

// toy builds TV13's model: 1-layer Qwen2, hidden 8, heads 2, kv 1, head_dim
// 4, intermediate 12, q/k/v biases, random norms, tied embeddings.
func toy(rng *rand.Rand, tied bool) *model.Weights {
	c := &model.Config{Arch: "qwen2", HiddenSize: 8, IntermediateSize: 12, NumLayers: 1, NumHeads: 2, NumKVHeads: 1,
		HeadDim: 4, VocabSize: 32, MaxPositions: 64, RopeTheta: 10000, RMSNormEps: 1e-6, TieWordEmbeddings: tied,
		AttentionBias: true, BOSTokenID: -1}
	lin := func(name string, out, in int, bias bool) model.Linear {
		l := model.Linear{Name: name, Out: out, In: in, W: randWeights(rng, out*in, 0.4)}
		if bias {
			l.B = randWeights(rng, out, 0.2)
		}
		return l
	}
	norm := func() []float32 {
		g := randWeights(rng, 8, 0.3)
		for i := range g {
			g[i] += 1
		}
		return g
	}
	w := &model.Weights{Config: c, Embed: randWeights(rng, 32*8, 1)}
	p := "model.layers.0."
	w.Layers = []model.Layer{{
		InputNorm: norm(),
		Q:         lin(p+"self_attn.q_proj", 8, 8, true), K: lin(p+"self_attn.k_proj", 4, 8, true),
		V: lin(p+"self_attn.v_proj", 4, 8, true), O: lin(p+"self_attn.o_proj", 8, 8, false),
		Gate: lin(p+"mlp.gate_proj", 12, 8, false), Up: lin(p+"mlp.up_proj", 12, 8, false),
		Down: lin(p+"mlp.down_proj", 8, 12, false), PostNorm: norm(),
	}}
	w.Norm = norm()
	if tied {
		w.LMHead = model.Linear{Name: "lm_head", Out: 32, In: 8, W: w.Embed}
		w.Tied = true
	} else {
		w.LMHead = lin("lm_head", 32, 8, false)
	}
	return w
}

func cloneWeights(w *model.Weights) *model.Weights {
	c := *w.Config
	out := &model.Weights{Config: &c, Tied: w.Tied}
	cp := func(v []float32) []float32 {
		if v == nil {
			return nil
		}
		return append([]float32(nil), v...)
	}
	cl := func(l model.Linear) model.Linear { l.W, l.B = cp(l.W), cp(l.B); return l }
	out.Embed = cp(w.Embed)
	for _, l := range w.Layers {
		out.Layers = append(out.Layers, model.Layer{InputNorm: cp(l.InputNorm), Q: cl(l.Q), K: cl(l.K), V: cl(l.V), O: cl(l.O),
			Gate: cl(l.Gate), Up: cl(l.Up), Down: cl(l.Down), PostNorm: cp(l.PostNorm)})
	}
	out.Norm = cp(w.Norm)
	out.LMHead = cl(w.LMHead)
	if w.Tied {
		out.LMHead.W = out.Embed
	}
	return out
}

func logits(t *testing.T, w *model.Weights, tokens []int) []float32 {
	t.Helper()
	out, err := model.New(w).Forward(tokens, model.NewKVCache(w.Config, len(tokens)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// relErr is max|a-b| / max|a|.
func relErr(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		num = math.Max(num, math.Abs(float64(a[i])-float64(b[i])))
		den = math.Max(den, math.Abs(float64(a[i])))
	}
	return num / den
}

// TestTV13 is spec test vector TV13: rotating the toy model leaves its
// logits unchanged up to float32 rounding and d ≠ √n.
func TestTV13(t *testing.T) {
	for _, tied := range []bool{true, false} {
		rng := rand.New(rand.NewPCG(13, 13))
		w := toy(rng, tied)
		tokens := []int{1, 5, 9, 31, 0, 17, 4}
		before := logits(t, w, tokens)
		rot, err := NewRotation(8, 4, 1, 2026)
		if err != nil {
			t.Fatal(err)
		}
		if err := RotateModel(w, rot); err != nil {
			t.Fatal(err)
		}
		if w.Tied || w.Config.TieWordEmbeddings {
			t.Fatal("rotated model is still tied")
		}
		l := &w.Layers[0]
		for _, g := range [][]float32{l.InputNorm, l.PostNorm, w.Norm} {
			for _, v := range g {
				if v != 1 {
					t.Fatalf("norm weight %v after fusion", v)
				}
			}
		}
		after := logits(t, w, tokens)
		rel := relErr(before, after)
		t.Logf("tied=%v: max logit error %.3g relative", tied, rel)
		if rel > 2e-6 {
			t.Fatalf("tied=%v: rotated logits differ by %.3g relative", tied, rel)
		}
	}
}

// reference is a literal transcription of spec §3.4 with explicit
// block-diagonal matrices and dense float64 products (summing every term of
// the full matrices, zeros included, in index order), for comparison with
// rotateModel's factored implementation.
func reference(w *model.Weights, rot *Rotation) {
	c := w.Config
	matmul := func(a []float32, ar, ac int, b []float64, bc int) []float32 { // f32(a·b)
		out := make([]float32, ar*bc)
		for i := 0; i < ar; i++ {
			for j := 0; j < bc; j++ {
				var acc float64
				for k := 0; k < ac; k++ {
					acc += float64(float64(a[i*ac+k]) * b[k*bc+j])
				}
				out[i*bc+j] = float32(acc)
			}
		}
		return out
	}
	transpose := func(a []float64, n int) []float64 {
		t := make([]float64, n*n)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				t[j*n+i] = a[i*n+j]
			}
		}
		return t
	}
	leftT := func(a []float64, n int, wv []float32, cols int) []float32 { // f32(aᵀ·w)
		at := transpose(a, n)
		out := make([]float32, n*cols)
		for i := 0; i < n; i++ {
			for j := 0; j < cols; j++ {
				var acc float64
				for k := 0; k < n; k++ {
					acc += float64(at[i*n+k] * float64(wv[k*cols+j]))
				}
				out[i*cols+j] = float32(acc)
			}
		}
		return out
	}
	blockDiag := func(a []float64, hd, reps int) []float64 {
		n := hd * reps
		out := make([]float64, n*n)
		for r := 0; r < reps; r++ {
			for i := 0; i < hd; i++ {
				for j := 0; j < hd; j++ {
					out[(r*hd+i)*n+r*hd+j] = a[i*hd+j]
				}
			}
		}
		return out
	}
	h := c.HiddenSize
	w.Untie()
	fuse := func(g []float32, ls ...*model.Linear) {
		for _, l := range ls {
			for o := 0; o < l.Out; o++ {
				for i := 0; i < l.In; i++ {
					l.W[o*l.In+i] = float32(float64(l.W[o*l.In+i]) * float64(g[i]))
				}
			}
		}
		for i := range g {
			g[i] = 1
		}
	}
	for i := range w.Layers {
		l := &w.Layers[i]
		fuse(l.InputNorm, &l.Q, &l.K, &l.V)
		fuse(l.PostNorm, &l.Up, &l.Gate)
	}
	fuse(w.Norm, &w.LMHead)
	w.Embed = matmul(w.Embed, c.VocabSize, h, rot.R, h)
	for i := range w.Layers {
		l := &w.Layers[i]
		for _, x := range []*model.Linear{&l.Q, &l.K, &l.V} {
			x.W = matmul(x.W, x.Out, h, rot.R, h)
		}
		l.O.W = leftT(rot.R, h, l.O.W, l.O.In)
		rv := rot.RvFor(i)
		bkv := blockDiag(rv, rot.HeadDim, c.NumKVHeads)
		l.V.W = leftT(bkv, l.V.Out, l.V.W, h)
		l.V.B = matmul(l.V.B, 1, l.V.Out, bkv, l.V.Out)
		bqo := blockDiag(rv, rot.HeadDim, c.NumHeads)
		l.O.W = matmul(l.O.W, h, l.O.In, bqo, l.O.In)
		l.Up.W = matmul(l.Up.W, l.Up.Out, h, rot.R, h)
		l.Gate.W = matmul(l.Gate.W, l.Gate.Out, h, rot.R, h)
		l.Down.W = leftT(rot.R, h, l.Down.W, l.Down.In)
	}
	w.LMHead.W = matmul(w.LMHead.W, c.VocabSize, h, rot.R, h)
}

// TestAgainstReference compares rotateModel, dense and factored, with the
// literal reference: the dense path must be bit-identical (up to the sign
// of zero), the factored path within 1 ulp. Thread counts must not matter.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	base := toy(rng, true)
	// A larger GQA shape as well: hidden 24 (K=12), 3 heads of 8, 1 kv head.
	big := toy(rng, false)
	{
		c := big.Config
		c.HiddenSize, c.NumHeads, c.NumKVHeads, c.HeadDim, c.IntermediateSize = 24, 3, 1, 8, 40
		l := &big.Layers[0]
		mk := func(l *model.Linear, out, in int) {
			l.Out, l.In, l.W = out, in, randWeights(rng, out*in, 0.3)
			if l.B != nil {
				l.B = randWeights(rng, out, 0.1)
			}
		}
		mk(&l.Q, 24, 24)
		mk(&l.K, 8, 24)
		mk(&l.V, 8, 24)
		mk(&l.O, 24, 24)
		mk(&l.Gate, 40, 24)
		mk(&l.Up, 40, 24)
		mk(&l.Down, 24, 40)
		mk(&big.LMHead, 32, 24)
		big.Embed = randWeights(rng, 32*24, 1)
		l.InputNorm, l.PostNorm, big.Norm = randWeights(rng, 24, 1), randWeights(rng, 24, 1), randWeights(rng, 24, 1)
	}
	for _, tc := range []struct {
		name string
		w    *model.Weights
	}{{"toy", base}, {"gqa24", big}} {
		c := tc.w.Config
		rot, err := NewRotation(c.HiddenSize, c.HeadDim, c.NumLayers, 99)
		if err != nil {
			t.Fatal(err)
		}
		ref := cloneWeights(tc.w)
		reference(ref, rot)
		want := ref.StateDict()
		ulps := 0
		for _, o := range []options{{workers: 1, dense: true}, {workers: 3, dense: true}, {workers: 1}, {workers: 3}} {
			w := cloneWeights(tc.w)
			if err := rotateModel(w, rot, o); err != nil {
				t.Fatal(err)
			}
			got := w.StateDict()
			if len(got) != len(want) {
				t.Fatalf("%s: %d tensors, want %d", tc.name, len(got), len(want))
			}
			for i := range got {
				if got[i].Name != want[i].Name {
					t.Fatalf("%s: tensor %d is %s, want %s", tc.name, i, got[i].Name, want[i].Name)
				}
				for j := range got[i].Data {
					u := ulpDiff(got[i].Data[j], want[i].Data[j])
					if (o.dense && u != 0) || u > 1 {
						t.Fatalf("%s %+v: %s[%d] = %v, reference %v", tc.name, o, got[i].Name, j, got[i].Data[j], want[i].Data[j])
					}
					if u == 1 {
						ulps++
					}
				}
			}
		}
		t.Logf("%s: factored path differs from the reference by 1 ulp in %d elements (2 runs)", tc.name, ulps)
	}
}

func TestRotateModelErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	rot, _ := NewRotation(8, 4, 1, 1)
	for _, tc := range []struct {
		name string
		mod  func(w *model.Weights, r *Rotation)
		want string
	}{
		{"hidden", func(w *model.Weights, r *Rotation) { r.N, r.R = 4, r.R[:16] }, "R is 4x4 but hidden_size is 8"},
		{"layers", func(w *model.Weights, r *Rotation) { r.Rv = append(r.Rv, r.Rv[0]) }, "2 R_v matrices for 1 layers"},
		{"head_dim", func(w *model.Weights, r *Rotation) { r.HeadDim, r.Rv = 2, [][]float64{{1, 0, 0, 1}} }, "R_v is 2x2 but head_dim is 4"},
		{"nan", func(w *model.Weights, r *Rotation) { r.R = append([]float64{math.NaN()}, r.R[1:]...) }, "R[0][0] is NaN"},
		{"config head_dim", func(w *model.Weights, r *Rotation) { w.Config.HeadDim = 2 }, "head_dim 2 differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := toy(rng, true)
			r := *rot
			tc.mod(w, &r)
			err := RotateModel(w, &r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSharedRvAndDenseR rotates with a single shared R_v and a general
// orthogonal (non-Hadamard) R, which takes the dense path.
func TestSharedRvAndDenseR(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	w := toy(rng, false)
	tokens := []int{3, 1, 4, 1, 5, 9, 2, 6}
	before := logits(t, w, tokens)
	// R: a signed permutation composed with a Givens rotation (orthogonal).
	n := 8
	r := make([]float64, n*n)
	perm := rng.Perm(n)
	for i := 0; i < n; i++ {
		r[i*n+perm[i]] = 1
		if rng.IntN(2) == 0 {
			r[i*n+perm[i]] = -1
		}
	}
	th := 0.7
	g := make([]float64, n*n)
	for i := 0; i < n; i++ {
		g[i*n+i] = 1
	}
	g[0], g[1], g[n], g[n+1] = math.Cos(th), -math.Sin(th), math.Sin(th), math.Cos(th)
	rg := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			for k := 0; k < n; k++ {
				rg[i*n+j] += r[i*n+k] * g[k*n+j]
			}
		}
	}
	if factorHadamard(rg, n) != nil {
		t.Fatal("test matrix unexpectedly Hadamard")
	}
	rv, _ := RandomHadamard(4, rng)
	rot := &Rotation{R: rg, N: n, Rv: [][]float64{rv}, RvShared: true, HeadDim: 4}
	if err := RotateModel(w, rot); err != nil {
		t.Fatal(err)
	}
	after := logits(t, w, tokens)
	if rel := relErr(before, after); rel > 2e-6 {
		t.Fatalf("logits differ by %.3g relative", rel)
	}
}

// TestRotatedTinyQwen2 rotates the bundled model and compares its logits
// with the unrotated model's.
func TestRotatedTinyQwen2(t *testing.T) {
	ck, err := checkpoint.Open("../../testdata/tinyqwen2")
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	w, err := model.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	tokens := []int{8189, 40, 1079, 264, 1899, 13, 576, 3364, 315, 279, 3364, 11, 323, 498, 2746, 13}
	before := logits(t, w, tokens)
	for _, src := range []string{"seed", "file"} {
		w2 := cloneWeights(w)
		var rot *Rotation
		if src == "seed" {
			rot, err = NewRotation(256, 64, 4, 7)
		} else {
			rot, err = Load("../../testdata/rotate/R-seed3.bin")
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := RotateModel(w2, rot); err != nil {
			t.Fatal(err)
		}
		after := logits(t, w2, tokens)
		rel := relErr(before, after)
		t.Logf("%s: max logit error %.3g relative (%d logits)", src, rel, len(after))
		if rel > 1e-5 {
			t.Fatalf("%s: rotated logits differ by %.3g relative", src, rel)
		}
	}
}
