package kernels

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// hashValues returns n values in [-1, 1) on a 2⁻²³ grid from a hash of
// their index; scripts/gen_gemm_goldens.py computes the same values.
func hashValues(n int, seed uint32) []float32 {
	out := make([]float32, n)
	for i := range out {
		h := uint32(i)*0x9E3779B1 + seed*0x85EBCA77
		h ^= h >> 15
		h *= 0x2C1B3C6D
		h ^= h >> 12
		h *= 0x297A2D39
		h ^= h >> 15
		out[i] = float32(float64(h>>8)*0x1p-23 - 1)
	}
	return out
}

type torchGEMMCase struct {
	Features, Tokens, K int
	Bias                bool
	XSeed               uint32 `json:"x_seed"`
	WSeed               uint32 `json:"w_seed"`
	BSeed               uint32 `json:"b_seed"`
}

func loadTorchGEMM(t *testing.T) ([]torchGEMMCase, [][]float32) {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/kernels/torch_gemm.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Threads int `json:"openblas_threads"`
		Cases   []torchGEMMCase
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if g.Threads != 1 || len(g.Cases) == 0 {
		t.Fatalf("torch_gemm.json: %d cases with %d OpenBLAS threads, want cases with 1", len(g.Cases), g.Threads)
	}
	bin, err := os.ReadFile("../../testdata/kernels/torch_gemm.f32")
	if err != nil {
		t.Fatal(err)
	}
	outs := make([][]float32, len(g.Cases))
	off := 0
	for i, c := range g.Cases {
		n := c.Features * c.Tokens
		if off+4*n > len(bin) {
			t.Fatalf("torch_gemm.f32: %d bytes, case %d needs %d more at offset %d", len(bin), i, 4*n, off)
		}
		outs[i] = make([]float32, n)
		for j := range outs[i] {
			outs[i][j] = math.Float32frombits(binary.LittleEndian.Uint32(bin[off+4*j:]))
		}
		off += 4 * n
	}
	if off != len(bin) {
		t.Fatalf("torch_gemm.f32: %d bytes, the cases use %d", len(bin), off)
	}
	return g.Cases, outs
}

func (c torchGEMMCase) inputs() (x, w, b []float32) {
	x = hashValues(c.Tokens*c.K, c.XSeed)
	w = hashValues(c.Features*c.K, c.WSeed)
	if c.Bias {
		b = hashValues(c.Features, c.BSeed)
	}
	return x, w, b
}

// TestMatMulTTorchBits checks MatMulTTorch bit for bit against torch's
// F.linear on this kind of CPU (OpenBLAS with one thread), on shapes that
// hit every tile OpenBLAS sums with two accumulators, the feature and K
// blocks and their halving.
func TestMatMulTTorchBits(t *testing.T) {
	if best.name == "generic" {
		t.Skip("the portable kernels multiply and add separately; only the FMA path sums as OpenBLAS does")
	}
	cases, outs := loadTorchGEMM(t)
	for i, c := range cases {
		x, w, b := c.inputs()
		for _, threads := range []int{1, 2} {
			got := make([]float32, c.Tokens*c.Features)
			MatMulTTorchThreads(threads, got, x, w, b, c.Tokens, c.Features, c.K, TorchGEMM{Tokens: c.Tokens, Features: c.Features, Depth: c.K})
			bad, first := 0, -1
			for j := range got {
				if math.Float32bits(got[j]) != math.Float32bits(outs[i][j]) {
					if first < 0 {
						first = j
					}
					bad++
				}
			}
			if bad > 0 {
				j := first
				t.Errorf("features %d tokens %d K %d bias %v threads %d: %d of %d outputs differ from torch; first: token %d feature %d: %g, torch %g",
					c.Features, c.Tokens, c.K, c.Bias, threads, bad, len(got), j/c.Features, j%c.Features, got[j], outs[i][j])
			}
		}
	}
}

// TestMatMulTSeqDiffersFromTorch keeps TestMatMulTTorchBits honest: the
// plain one-accumulator order must miss torch's bits on these shapes.
func TestMatMulTSeqDiffersFromTorch(t *testing.T) {
	if best.name == "generic" {
		t.Skip("only the FMA path has OpenBLAS's order")
	}
	cases, outs := loadTorchGEMM(t)
	differ := 0
	for i, c := range cases {
		x, w, b := c.inputs()
		got := make([]float32, c.Tokens*c.Features)
		MatMulT(got, x, w, b, c.Tokens, c.Features, c.K)
		for j := range got {
			if math.Float32bits(got[j]) != math.Float32bits(outs[i][j]) {
				differ++
			}
		}
	}
	if differ == 0 {
		t.Fatal("MatMulT (one accumulator everywhere) matches torch on every golden output: the goldens do not test the two-accumulator tiles")
	}
	t.Logf("MatMulT differs from torch in %d golden outputs", differ)
}

// TestMatMulTTorchParts checks that a call computing part of torch's
// product (some tokens, stacked periodically; the first features; the
// first K terms) gives the bits of the whole product with the missing
// terms zero.
func TestMatMulTTorchParts(t *testing.T) {
	const T, F, D = 40, 50, 203 // torch's product
	x := hashValues(T*D, 7)
	w := hashValues(F*D, 8)
	for _, p := range []struct {
		row0, rows, period, copies, n, k int
	}{
		{0, 40, 0, 1, 50, 203},
		{12, 17, 17, 2, 50, 150},
		{5, 30, 30, 3, 33, 203},
		{0, 6, 0, 1, 20, 77},
		{34, 6, 6, 2, 50, 1},
	} {
		// Whole product with terms k ≥ p.k zero.
		xz := make([]float32, T*D)
		for tk := 0; tk < T; tk++ {
			copy(xz[tk*D:tk*D+p.k], x[tk*D:tk*D+p.k])
		}
		whole := make([]float32, T*F)
		MatMulTTorch(whole, xz, w, nil, T, F, D, TorchGEMM{Tokens: T, Features: F, Depth: D})
		// The part: copies stacked blocks of rows tokens, first n features, first k terms.
		M := p.rows * p.copies
		xp := make([]float32, M*p.k)
		for m := 0; m < M; m++ {
			tk := p.row0 + m%p.rows
			copy(xp[m*p.k:(m+1)*p.k], x[tk*D:tk*D+p.k])
		}
		wp := make([]float32, p.n*p.k)
		for f := 0; f < p.n; f++ {
			copy(wp[f*p.k:(f+1)*p.k], w[f*D:f*D+p.k])
		}
		got := make([]float32, M*p.n)
		g := TorchGEMM{Tokens: T, Features: F, Depth: D, Row0: p.row0, Period: p.period}
		if p.copies == 1 {
			g.Period = 0
		}
		MatMulTTorch(got, xp, wp, nil, M, p.n, p.k, g)
		for m := 0; m < M; m++ {
			tk := p.row0 + m%p.rows
			for f := 0; f < p.n; f++ {
				if math.Float32bits(got[m*p.n+f]) != math.Float32bits(whole[tk*F+f]) {
					t.Fatalf("%+v: row %d (token %d) feature %d: %g, whole product %g", p, m, tk, f, got[m*p.n+f], whole[tk*F+f])
				}
			}
		}
	}
}

// TestMatMulTTorchExactOnSmallInts runs the two-accumulator path of every
// implementation (the portable one included) on small integers, where
// every order of summation is exact: each output must include every term
// once, whichever tiles the plan sums with two accumulators.
func TestMatMulTTorchExactOnSmallInts(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, sh := range []struct{ M, N, K int }{{30, 40, 100}, {23, 704, 77}, {6, 17, 9}, {40, 360, 700}} {
		x := smallInts(r, sh.M*sh.K)
		w := smallInts(r, sh.N*sh.K)
		bias := smallInts(r, sh.N)
		ref, _ := refMatMulT(x, w, bias, sh.M, sh.N, sh.K)
		g := TorchGEMM{Tokens: sh.M, Features: sh.N, Depth: sh.K}
		for _, im := range impls() {
			out := make([]float32, sh.M*sh.N)
			matMulTTuned(im, defaultTuning(), newOrderPlan(g, sh.M, sh.N), 2, out, x, w, bias, sh.M, sh.N, sh.K)
			for i, v := range out {
				if float64(v) != ref[i] {
					t.Fatalf("%s M%d N%d K%d: out[%d] = %g, want %g", im.name, sh.M, sh.N, sh.K, i, v, ref[i])
				}
			}
		}
	}
}
