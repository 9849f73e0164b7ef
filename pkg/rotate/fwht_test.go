package rotate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/model"
)

// kernelSets lists the fast-path primitive sets to test: the portable one
// and, where the CPU has it, the assembly.
func kernelSets() []*fwhtKernels {
	ks := []*fwhtKernels{goKernels}
	if k := bestKernels(); k != nil && k != goKernels {
		ks = append(ks, k)
	}
	return ks
}

// stressWeights is random data with the values that stress float64 sums
// and conversions: huge, tiny, subnormal (float32), ±0, and with inf in one
// vector and NaN in another when special is set.
func stressWeights(rng *rand.Rand, n int, special bool) []float32 {
	w := randWeights(rng, n, 0.05)
	extras := []float32{1e30, -3e-8, 1e-20, float32(math.Copysign(0, -1)), 0, 1e-44, -2e-39, 6e4}
	for i := 0; i < len(w); i += 37 {
		w[i] = extras[(i/37)%len(extras)]
	}
	if special && len(w) > 8 {
		w[len(w)/3] = float32(math.Inf(1))
		w[len(w)-1] = float32(math.NaN())
	}
	return w
}

// sameBits reports the first index where a and b differ in their bits, or −1.
func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestFastMatchesGeneric runs rightMul and leftMulT on the fast path (with
// the Go primitives and with the assembly) and on the generic code, on
// random data for many sizes (K = 1 and K > 1) and shapes (row counts and
// column counts that are and are not multiples of the 16-vector strip), and
// requires identical bits.
func TestFastMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	sizes := []int{4, 8, 16, 32, 64, 128, 256, 512, 2048, 12 * 4, 12 * 64, 172 * 4, 172 * 8, 20 * 32, 20 * 8,
		28 * 16, 36 * 8, 40 * 4, 52 * 8, 60 * 16, 108 * 4, 140 * 4, 156 * 8, 1536}
	shapes := []int{1, 5, 16, 33}
	gen := &engine{workers: 2}
	for _, n := range sizes {
		r, err := RandomHadamard(n, rng)
		if err != nil {
			t.Fatal(err)
		}
		h := factorHadamard(r, n)
		if h == nil || !h.fastOK() {
			t.Fatalf("n=%d: not a fast-path Hadamard operator", n)
		}
		for _, other := range shapes {
			for _, special := range []bool{false, true} {
				w := stressWeights(rng, n*other, special)
				wantR := append([]float32(nil), w...)
				gen.rightMul(wantR, h)
				wantL := append([]float32(nil), w...)
				gen.leftMulT(wantL, other, h)
				for _, kn := range kernelSets() {
					for _, workers := range []int{1, 3} {
						e := &engine{workers: workers, kern: kn}
						got := append([]float32(nil), w...)
						e.rightMul(got, h)
						if i := sameBits(got, wantR); i >= 0 {
							t.Fatalf("n=%d rows=%d special=%v %s: rightMul element %d = %v (%#x), generic %v (%#x)",
								n, other, special, kn.name, i, got[i], math.Float32bits(got[i]), wantR[i], math.Float32bits(wantR[i]))
						}
						got = append(got[:0], w...)
						e.leftMulT(got, other, h)
						if i := sameBits(got, wantL); i >= 0 {
							t.Fatalf("n=%d cols=%d special=%v %s: leftMulT element %d = %v (%#x), generic %v (%#x)",
								n, other, special, kn.name, i, got[i], math.Float32bits(got[i]), wantL[i], math.Float32bits(wantL[i]))
						}
					}
				}
			}
		}
	}
}

// TestFastGroups checks leftMulT with several groups (the R_v use: v_proj
// viewed as [heads][head_dim][hidden]) and wide strips against the
// generic code for several generic strip widths B.
func TestFastGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, tc := range []struct{ n, groups, cols int }{{128, 3, 2048}, {64, 4, 40}, {12 * 8, 2, 70}} {
		r, err := RandomHadamard(tc.n, rng)
		if err != nil {
			t.Fatal(err)
		}
		h := factorHadamard(r, tc.n)
		w := stressWeights(rng, tc.groups*tc.n*tc.cols, false)
		fast := append([]float32(nil), w...)
		newEngine(2).leftMulT(fast, tc.cols, h)
		// Generic reference with strip widths other than vecBlock: the
		// per-vector result does not depend on B.
		for _, b := range []int{1, 3, 16} {
			want := append([]float32(nil), w...)
			x := make([]float64, tc.n*b)
			s := make([]float64, scratchLen(tc.n, b))
			for g := 0; g < tc.groups; g++ {
				blk := want[g*tc.n*tc.cols : (g+1)*tc.n*tc.cols]
				for c0 := 0; c0 < tc.cols; c0 += b {
					(&engine{}).leftMulTItem(blk, tc.cols, c0, min(b, tc.cols-c0), h, x, s)
				}
			}
			if i := sameBits(fast, want); i >= 0 {
				t.Fatalf("n=%d groups=%d cols=%d B=%d: element %d = %v, generic %v", tc.n, tc.groups, tc.cols, b, i, fast[i], want[i])
			}
		}
	}
}

// TestKernelPrimitives compares each assembly primitive with its Go
// version bit for bit on random data, including strides and lengths at the
// edges of the loops' unrolling.
func TestKernelPrimitives(t *testing.T) {
	kn := bestKernels()
	if kn == nil {
		t.Log("no assembly primitives on this CPU; the fast path is not used")
		return
	}
	rng := rand.New(rand.NewPCG(41, 42))
	f64 := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64() * math.Ldexp(1, rng.IntN(40)-20)
		}
		return v
	}
	eq64 := func(name string, a, b []float64) {
		t.Helper()
		for i := range a {
			if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
				t.Fatalf("%s: element %d = %v, Go %v", name, i, a[i], b[i])
			}
		}
	}
	for _, n := range []int{4, 8, 12, 16, 20, 64, 128, 2048} {
		src := stressWeights(rng, n, false)
		mask := make([]uint64, n)
		for i := range mask {
			if rng.IntN(2) == 0 {
				mask[i] = signBit
			}
		}
		a, b := make([]float64, n), make([]float64, n)
		kn.loadSign12(a, src, mask)
		goKernels.loadSign12(b, src, mask)
		eq64(fmt.Sprintf("loadSign12 n=%d", n), a, b)

		for _, r := range []int{2, 4, 8} {
			for s := 4; r*s <= n && n%(r*s) == 0; s *= 2 {
				x := f64(n)
				y := append([]float64(nil), x...)
				kn.radix(x, s, r)
				goKernels.radix(y, s, r)
				eq64(fmt.Sprintf("radix%d n=%d s=%d", r, n, s), x, y)
			}
		}

		x := f64(n)
		f1, f2 := make([]float32, n), make([]float32, n)
		kn.mulStore(f1, x, 0.0883883461356163)
		goKernels.mulStore(f2, x, 0.0883883461356163)
		if i := sameBits(f1, f2); i >= 0 {
			t.Fatalf("mulStore n=%d: element %d = %v, Go %v", n, i, f1[i], f2[i])
		}

		y := f64(n)
		a1, a2 := append([]float64(nil), x...), append([]float64(nil), x...)
		kn.addVec(a1, y)
		goKernels.addVec(a2, y)
		eq64(fmt.Sprintf("addVec n=%d", n), a1, a2)
		for _, neg := range []bool{false, true} {
			c1, c2 := append([]float64(nil), x...), append([]float64(nil), x...)
			kn.combine(c1, y, neg)
			goKernels.combine(c2, y, neg)
			eq64(fmt.Sprintf("combine n=%d neg=%v", n, neg), c1, c2)
		}

		g := stressWeights(rng, n, false)
		for i := range g {
			g[i] *= float32(math.Ldexp(1, rng.IntN(200)-100))
		}
		l1, l2 := make([]float64, n), make([]float64, n)
		kn.loadScaleSign12(l1, src, g, mask)
		goKernels.loadScaleSign12(l2, src, g, mask)
		eq64(fmt.Sprintf("loadScaleSign12 n=%d", n), l1, l2)

		const ld = 21
		rows := n / 4
		gs := stressWeights(rng, (rows-1)*ld+16, false)
		d1, d2 := make([]float64, rows*16), make([]float64, rows*16)
		kn.gather16(d1, gs, ld, mask[:rows])
		goKernels.gather16(d2, gs, ld, mask[:rows])
		eq64(fmt.Sprintf("gather16 rows=%d", rows), d1, d2)
		s1, s2 := append([]float32(nil), gs...), append([]float32(nil), gs...)
		kn.scatter16(s1, ld, d1, 1/45.254833995939045)
		goKernels.scatter16(s2, ld, d1, 1/45.254833995939045)
		if i := sameBits(s1, s2); i >= 0 {
			t.Fatalf("scatter16 rows=%d: element %d = %v, Go %v", rows, i, s1[i], s2[i])
		}
	}
}

// TestFusedRotatorMatchesGeneric rotates whole models (norm fusion, W·R,
// Rᵀ·W, R_v) with the fast path, where fuse and W·R run as one pass, and
// with the generic code, and requires identical bits in every tensor.
func TestFusedRotatorMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, tc := range []struct{ hidden, heads, kv, inter, layers int }{
		{64, 4, 2, 96, 2}, {96, 2, 1, 80, 1}, {160, 4, 4, 48, 2}, {128, 1, 1, 64, 1},
	} {
		hd := tc.hidden / tc.heads
		c := &model.Config{Arch: "qwen2", HiddenSize: tc.hidden, IntermediateSize: tc.inter, NumLayers: tc.layers,
			NumHeads: tc.heads, NumKVHeads: tc.kv, HeadDim: hd, VocabSize: 40, AttentionBias: true}
		lin := func(out, in int, bias bool) model.Linear {
			l := model.Linear{Out: out, In: in, W: stressWeights(rng, out*in, false)}
			if bias {
				l.B = stressWeights(rng, out, false)
			}
			return l
		}
		norm := func() []float32 {
			g := randWeights(rng, tc.hidden, 0.5)
			g[0], g[1], g[2] = 0, 1e20, 1e-30
			return g
		}
		w := &model.Weights{Config: c, Embed: stressWeights(rng, 40*tc.hidden, false), Norm: norm(),
			LMHead: lin(40, tc.hidden, false)}
		for range tc.layers {
			w.Layers = append(w.Layers, model.Layer{InputNorm: norm(), PostNorm: norm(),
				Q: lin(tc.heads*hd, tc.hidden, true), K: lin(tc.kv*hd, tc.hidden, true), V: lin(tc.kv*hd, tc.hidden, true),
				O: lin(tc.hidden, tc.heads*hd, false), Gate: lin(tc.inter, tc.hidden, false), Up: lin(tc.inter, tc.hidden, false),
				Down: lin(tc.hidden, tc.inter, false)})
		}
		rot, err := NewRotation(tc.hidden, hd, tc.layers, 7)
		if err != nil {
			t.Fatal(err)
		}
		want := cloneWeights(w)
		gen, err := NewRotator(c, rot, Options{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		gen.e.kern = nil
		for _, kn := range kernelSets() {
			got := cloneWeights(w)
			fast, err := NewRotator(c, rot, Options{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			fast.e.kern = kn
			if fast.fusedR() == nil {
				t.Fatalf("hidden %d: the fused fast path is not taken", tc.hidden)
			}
			for _, x := range []struct {
				r *Rotator
				w *model.Weights
			}{{fast, got}, {gen, want}} {
				if x.w == want && kn != kernelSets()[0] {
					continue // rotated already
				}
				if err := x.r.Embedding(x.w.Embed); err != nil {
					t.Fatal(err)
				}
				for i := range x.w.Layers {
					if err := x.r.Layer(i, &x.w.Layers[i]); err != nil {
						t.Fatal(err)
					}
				}
				if err := x.r.Head(&x.w.LMHead, x.w.Norm); err != nil {
					t.Fatal(err)
				}
			}
			check := func(name string, a, b []float32) {
				t.Helper()
				if i := sameBits(a, b); i >= 0 || len(a) != len(b) {
					t.Fatalf("hidden %d %s: %s element %d differs from the generic code", tc.hidden, kn.name, name, i)
				}
			}
			check("embed", got.Embed, want.Embed)
			check("norm", got.Norm, want.Norm)
			check("lm_head", got.LMHead.W, want.LMHead.W)
			for i := range got.Layers {
				a, b := got.Layers[i], want.Layers[i]
				check("input_layernorm", a.InputNorm, b.InputNorm)
				check("post_attention_layernorm", a.PostNorm, b.PostNorm)
				for j, p := range [][2]model.Linear{{a.Q, b.Q}, {a.K, b.K}, {a.V, b.V}, {a.O, b.O}, {a.Gate, b.Gate}, {a.Up, b.Up}, {a.Down, b.Down}} {
					check(fmt.Sprintf("layer %d linear %d", i, j), p[0].W, p[1].W)
					check(fmt.Sprintf("layer %d bias %d", i, j), p[0].B, p[1].B)
				}
			}
		}
	}
}
