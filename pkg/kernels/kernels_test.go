package kernels

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// impls lists every implementation that can run on this machine.
func impls() []*impl {
	list := []*impl{generic}
	if best != generic {
		list = append(list, best)
	}
	return list
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// smallInts returns values in [-8, 8]: every partial sum of products stays
// exactly representable in float32 for K below 2^24/64, so results are exact.
func smallInts(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.IntN(17) - 8)
	}
	return s
}

// refMatMulT returns the float64-accumulated reference and, per element,
// Σ|x·w| + |bias| (the scale of the error bound).
func refMatMulT(x, w, bias []float32, M, N, K int) (ref, scale []float64) {
	ref = make([]float64, M*N)
	scale = make([]float64, M*N)
	for m := 0; m < M; m++ {
		for n := 0; n < N; n++ {
			var s, a float64
			for k := 0; k < K; k++ {
				p := float64(x[m*K+k]) * float64(w[n*K+k])
				s += p
				a += math.Abs(p)
			}
			if bias != nil {
				s += float64(bias[n])
				a += math.Abs(float64(bias[n]))
			}
			ref[m*N+n], scale[m*N+n] = s, a
		}
	}
	return ref, scale
}

// gamma is γ(n) = n·u/(1-n·u) with u = 2⁻²⁴, the documented bound factor.
func gamma(n int) float64 {
	u := math.Ldexp(1, -24)
	return float64(n) * u / (1 - float64(n)*u)
}

var shapes = []struct{ M, N, K int }{
	{1, 1, 1}, {1, 7, 3}, {1, 16, 16}, {1, 33, 100}, {1, 300, 257}, {1, 5504 / 8, 2048 / 8},
	{2, 17, 31}, {3, 5, 8}, {5, 31, 17}, {6, 16, 1}, {6, 16, 256}, {7, 17, 255},
	{11, 47, 513}, {12, 32, 64}, {13, 1, 9}, {1, 1, 1000}, {37, 300, 129},
	{64, 64, 64}, {100, 257, 300}, {131, 129, 70}, {300, 33, 520}, {6, 600, 7},
	{45, 2, 3}, {145, 290, 31}, {4, 1024, 96},
}

func TestMatMulTAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range shapes {
		x := randSlice(r, sh.M*sh.K)
		w := randSlice(r, sh.N*sh.K)
		bias := randSlice(r, sh.N)
		for _, withBias := range []bool{false, true} {
			b := bias
			if !withBias {
				b = nil
			}
			ref, scale := refMatMulT(x, w, b, sh.M, sh.N, sh.K)
			bound := gamma(sh.K + 1)
			var outs [][]float32
			for _, im := range impls() {
				for _, threads := range []int{1, 2, 3} {
					name := fmt.Sprintf("%s/M%d_N%d_K%d/bias=%v/t%d", im.name, sh.M, sh.N, sh.K, withBias, threads)
					out := make([]float32, sh.M*sh.N+1)
					out[sh.M*sh.N] = 12345 // sentinel: must not be written
					matMulT(im, threads, out, x, w, b, sh.M, sh.N, sh.K)
					if out[sh.M*sh.N] != 12345 {
						t.Fatalf("%s: wrote past M*N", name)
					}
					out = out[:sh.M*sh.N]
					for i, v := range out {
						if d := math.Abs(float64(v) - ref[i]); d > bound*scale[i] || math.IsNaN(float64(v)) {
							t.Fatalf("%s: out[%d]=%g ref=%g |diff|=%g > bound %g", name, i, v, ref[i], d, bound*scale[i])
						}
					}
					outs = append(outs, out)
				}
			}
			// The thread count never changes the result of one implementation.
			per := len(outs) / len(impls())
			for i := range outs {
				base := outs[i/per*per]
				for j := range base {
					if outs[i][j] != base[j] {
						t.Fatalf("M%d_N%d_K%d: result depends on thread count at %d: %g vs %g", sh.M, sh.N, sh.K, j, outs[i][j], base[j])
					}
				}
			}
		}
	}
}

func TestMatMulTExactIntegers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, sh := range shapes {
		x := smallInts(r, sh.M*sh.K)
		w := smallInts(r, sh.N*sh.K)
		bias := smallInts(r, sh.N)
		ref, _ := refMatMulT(x, w, bias, sh.M, sh.N, sh.K)
		for _, im := range impls() {
			out := make([]float32, sh.M*sh.N)
			for i := range out {
				out[i] = float32(math.NaN()) // must be overwritten
			}
			matMulT(im, 2, out, x, w, bias, sh.M, sh.N, sh.K)
			for i, v := range out {
				if float64(v) != ref[i] {
					t.Fatalf("%s M%d_N%d_K%d: out[%d]=%g want %g", im.name, sh.M, sh.N, sh.K, i, v, ref[i])
				}
			}
		}
	}
}

func TestMatMulTEdgeCases(t *testing.T) {
	// K == 0: out = bias (or 0); M or N == 0: nothing written.
	out := []float32{9, 9, 9, 9}
	MatMulT(out, nil, nil, []float32{1, 2}, 2, 2, 0)
	if want := []float32{1, 2, 1, 2}; fmt.Sprint(out) != fmt.Sprint(want) {
		t.Fatalf("K=0 with bias: got %v want %v", out, want)
	}
	MatMulT(out, nil, nil, nil, 2, 2, 0)
	if fmt.Sprint(out) != fmt.Sprint([]float32{0, 0, 0, 0}) {
		t.Fatalf("K=0 without bias: got %v", out)
	}
	out = []float32{7}
	MatMulT(out, []float32{1}, nil, nil, 1, 0, 1)
	if out[0] != 7 {
		t.Fatalf("N=0 wrote output")
	}
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"short out", func() { MatMulT(make([]float32, 3), make([]float32, 4), make([]float32, 4), nil, 2, 2, 2) }},
		{"short x", func() { MatMulT(make([]float32, 4), make([]float32, 3), make([]float32, 4), nil, 2, 2, 2) }},
		{"short w", func() { MatMulT(make([]float32, 4), make([]float32, 4), make([]float32, 3), nil, 2, 2, 2) }},
		{"short bias", func() { MatMulT(make([]float32, 4), make([]float32, 4), make([]float32, 4), []float32{1}, 2, 2, 2) }},
		{"negative", func() { MatMulT(nil, nil, nil, nil, -1, 2, 2) }},
		{"dot length", func() { Dot(make([]float32, 2), make([]float32, 3)) }},
		{"axpy length", func() { Axpy(1, make([]float32, 2), make([]float32, 3)) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.f()
		}()
	}
}

func TestDotAxpy(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 1000, 2048, 4099} {
		a, b := randSlice(r, n), randSlice(r, n)
		var ref, scale float64
		for i := range a {
			p := float64(a[i]) * float64(b[i])
			ref += p
			scale += math.Abs(p)
		}
		for _, im := range impls() {
			got := float64(im.dot(a, b))
			if d := math.Abs(got - ref); d > gamma(n)*scale {
				t.Fatalf("%s dot n=%d: %g want %g (|diff| %g)", im.name, n, got, ref, d)
			}
			ai, bi := smallInts(r, n), smallInts(r, n)
			var refi float64
			for i := range ai {
				refi += float64(ai[i]) * float64(bi[i])
			}
			if got := im.dot(ai, bi); float64(got) != refi {
				t.Fatalf("%s dot ints n=%d: %g want %g", im.name, n, got, refi)
			}
			y := randSlice(r, n)
			y0 := append([]float32(nil), y...)
			alpha := float32(r.NormFloat64())
			im.axpy(alpha, a, y)
			for i := range y {
				want := float64(y0[i]) + float64(alpha)*float64(a[i])
				tol := 2 * math.Ldexp(1, -24) * (math.Abs(float64(y0[i])) + math.Abs(float64(alpha)*float64(a[i])))
				if d := math.Abs(float64(y[i]) - want); d > tol {
					t.Fatalf("%s axpy n=%d i=%d: %g want %g", im.name, n, i, y[i], want)
				}
			}
		}
	}
	if Dot(nil, nil) != 0 {
		t.Fatal("Dot(nil, nil) != 0")
	}
}

func TestPackB(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const K = 70
	w := randSlice(r, 40*K)
	for _, im := range impls() {
		for _, tc := range []struct{ n0, cols, p0, kc int }{
			{0, 16, 0, 64}, {3, 16, 5, 65}, {24, 16, 1, 7}, {20, 13, 0, 70}, {39, 1, 69, 1}, {8, 16, 0, 70},
		} {
			got := make([]float32, tc.kc*nr)
			for i := range got {
				got[i] = float32(math.NaN())
			}
			im.packB(got, w, K, tc.n0, tc.cols, tc.p0, tc.kc)
			for p := 0; p < tc.kc; p++ {
				for j := 0; j < nr; j++ {
					want := float32(0)
					if j < tc.cols {
						want = w[(tc.n0+j)*K+tc.p0+p]
					}
					if got[p*nr+j] != want {
						t.Fatalf("%s packB %+v: [%d][%d]=%g want %g", im.name, tc, p, j, got[p*nr+j], want)
					}
				}
			}
		}
	}
}

// TestMatMulTTunings runs the driver with small and unusual blocking
// parameters so that every edge (partial kc, nc and mc blocks, split of M
// across units, the padded copy of x, both paths around gemvMaxM) is hit.
func TestMatMulTTunings(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	tunings := []tuning{
		defaultTuning(),
		{kc: 1, nc: 16, mc: 6, gemvMaxM: 0, gemvRows: 4, padX: true},
		{kc: 7, nc: 32, mc: 12, gemvMaxM: 1, gemvRows: 8, padX: false},
		{kc: 64, nc: 48, mc: 18, gemvMaxM: 8, gemvRows: 12, padX: true},
	}
	for _, sh := range []struct{ M, N, K int }{{1, 50, 1024}, {5, 17, 33}, {8, 70, 1024}, {25, 100, 130}, {61, 33, 2048}} {
		x := smallInts(r, sh.M*sh.K)
		w := smallInts(r, sh.N*sh.K)
		bias := smallInts(r, sh.N)
		ref, _ := refMatMulT(x, w, bias, sh.M, sh.N, sh.K)
		for _, im := range impls() {
			for ti, tu := range tunings {
				for _, threads := range []int{1, 2, 5} {
					out := make([]float32, sh.M*sh.N)
					matMulTTuned(im, tu, nil, threads, out, x, w, bias, sh.M, sh.N, sh.K)
					for i, v := range out {
						if float64(v) != ref[i] {
							t.Fatalf("%s tuning %d threads %d M%d_N%d_K%d: out[%d]=%g want %g",
								im.name, ti, threads, sh.M, sh.N, sh.K, i, v, ref[i])
						}
					}
				}
			}
		}
	}
}

// TestMatMulTRowBlocks checks the GemvMaxRows promise: splitting the rows
// of a product into blocks of more than GemvMaxRows rows gives the same
// bits as one call, for every implementation, with and without bias, and
// for K below and above one packed panel (kc).
func TestMatMulTRowBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, sh := range []struct{ M, N, K int }{{40, 70, 256}, {97, 33, 600}, {23, 300, 2048}} {
		x := randSlice(r, sh.M*sh.K)
		w := randSlice(r, sh.N*sh.K)
		bias := randSlice(r, sh.N)
		for _, im := range impls() {
			for _, b := range [][]float32{nil, bias} {
				whole := make([]float32, sh.M*sh.N)
				matMulT(im, 2, whole, x, w, b, sh.M, sh.N, sh.K)
				for _, blk := range []int{GemvMaxRows + 1, 7, 12, 16} {
					got := make([]float32, sh.M*sh.N)
					for m0, m1 := 0, 0; m0 < sh.M; m0 = m1 {
						m1 = min(m0+blk, sh.M)
						if sh.M-m1 <= GemvMaxRows {
							m1 = sh.M // a short last block joins this one
						}
						matMulT(im, 2, got[m0*sh.N:m1*sh.N], x[m0*sh.K:m1*sh.K], w, b, m1-m0, sh.N, sh.K)
					}
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(whole[i]) {
							t.Fatalf("%s M%d N%d K%d bias=%v blocks of %d: out[%d] = %g, one call gives %g", im.name, sh.M, sh.N, sh.K, b != nil, blk, i, got[i], whole[i])
						}
					}
				}
			}
		}
	}
}

// TestKBlock checks the K blocking against OpenBLAS's level-3 rule as
// measured on torch 1.13 / OpenBLAS 0.3.21 with one thread (Zen: Q = 320,
// halves rounded up to the unroll of 8; TestMatMulTTorchBits has the bits
// for 500, 650 and 1000), including the shapes of the bundled model,
// Qwen1.5-1.8B and Qwen2-7B.
func TestKBlock(t *testing.T) {
	cases := []struct {
		K    int
		want []int
	}{
		{64, []int{64}},
		{256, []int{256}},
		{320, []int{320}},
		{500, []int{256, 244}},
		{640, []int{320, 320}},
		{660, []int{320, 176, 164}},
		{680, []int{320, 184, 176}},
		{704, []int{320, 192, 192}},
		{1000, []int{320, 320, 184, 176}},
		{2048, []int{320, 320, 320, 320, 320, 224, 224}},
		{650, []int{320, 168, 162}},
	}
	for _, c := range cases {
		var got []int
		for p, kb := 0, 0; p < c.K; p += kb {
			kb = kBlock(c.K-p, defaultTuning().kc)
			got = append(got, kb)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("K=%d: blocks %v, want %v", c.K, got, c.want)
		}
	}
}

// TestMatMulTSumOrder checks the order of the SIMD path's sums bit for bit
// against its description: each output starts from the bias, and each K
// block (kBlock) is accumulated from zero with one fused multiply-add per
// term in k order, then added. This is the order of OpenBLAS's sgemm for
// most tiles, which makes torch's CPU linear layers reproducible here.
func TestMatMulTSumOrder(t *testing.T) {
	if best.name == "generic" {
		t.Skip("the portable kernel multiplies and adds separately; only the FMA path has this order")
	}
	r := rand.New(rand.NewPCG(21, 22))
	for _, sh := range []struct{ M, N, K int }{{7, 40, 704}, {12, 17, 1000}, {6, 16, 300}} {
		x := randSlice(r, sh.M*sh.K)
		w := randSlice(r, sh.N*sh.K)
		bias := randSlice(r, sh.N)
		out := make([]float32, sh.M*sh.N)
		MatMulT(out, x, w, bias, sh.M, sh.N, sh.K)
		for m := 0; m < sh.M; m++ {
			for n := 0; n < sh.N; n++ {
				c := bias[n]
				for p, kb := 0, 0; p < sh.K; p += kb {
					kb = kBlock(sh.K-p, defaultTuning().kc)
					var acc float32
					for k := p; k < p+kb; k++ {
						acc = exactFMA32(x[m*sh.K+k], w[n*sh.K+k], acc)
					}
					c += acc
				}
				if got := out[m*sh.N+n]; math.Float32bits(got) != math.Float32bits(c) {
					t.Fatalf("M%d N%d K%d: out[%d][%d] = %g, blocked FMA order gives %g", sh.M, sh.N, sh.K, m, n, got, c)
				}
			}
		}
	}
}

// exactFMA32 is a·b + c rounded once to float32.
func exactFMA32(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(200).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}
