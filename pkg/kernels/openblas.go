package kernels

import "fmt"

// TorchGEMM places a product inside the single-threaded OpenBLAS sgemm
// call that torch 1.13 makes for it on AVX2 CPUs (OpenBLAS 0.3.21, Haswell
// and Zen kernels), so that MatMulTTorch sums every output in that call's
// order and gets its bits. torch computes x·Wᵀ as the column-major product
// C = W·xᵀ: BLAS M runs over the rows of W ("features"), BLAS N over the
// rows of x ("tokens"). OpenBLAS cuts M into blocks of up to 320 rows and
// K into blocks of up to 320 (halving the last two, in multiples of 8),
// and its kernel sums most outputs of a block with one accumulator, but
// some with two (even and odd k), depending on the output's place in the
// blocks and in the panels of 12 tokens; see pairClass. Measured with
// scripts/gen_gemm_goldens.py against torch with OPENBLAS_NUM_THREADS=1;
// with more threads OpenBLAS splits the product differently.
//
// A call of MatMulTTorch may compute a part of torch's product: rows of x
// that are some of its tokens (Row0, Period), the first N of its features,
// and the first K of its depth (the remaining terms being zero, as for
// attention probabilities beyond the causal limit).
type TorchGEMM struct {
	// Tokens is the number of rows of x in torch's product (BLAS N).
	Tokens int
	// Features is the number of rows of W in torch's product (BLAS M);
	// this call computes features 0..N-1.
	Features int
	// Depth is torch's K; this call sums the first K terms.
	Depth int
	// Row0 is the token of row 0 of x.
	Row0 int
	// Period, when positive, makes row m token Row0 + m%Period (several
	// heads' rows stacked in one call); otherwise row m is token Row0+m.
	Period int
}

// MatMulTTorch is MatMulT summing each output in the order of torch's
// OpenBLAS call described by g (on the AVX2 path; the portable kernels
// multiply and add separately). It uses runtime.GOMAXPROCS(0) goroutines;
// the result does not depend on their number.
func MatMulTTorch(out, x, w, bias []float32, M, N, K int, g TorchGEMM) {
	MatMulTTorchThreads(0, out, x, w, bias, M, N, K, g)
}

// MatMulTTorchThreads is MatMulTTorch with at most threads goroutines
// (threads <= 0: GOMAXPROCS).
func MatMulTTorchThreads(threads int, out, x, w, bias []float32, M, N, K int, g TorchGEMM) {
	if N > g.Features || K > g.Depth {
		panic(fmt.Sprintf("kernels.MatMulTTorch: N=%d K=%d exceed torch's product (%d features, depth %d)", N, K, g.Features, g.Depth))
	}
	plan := newOrderPlan(g, M, N)
	matMulTTuned(best, defaultTuning(), plan, threads, out, x, w, bias, M, N, K)
}

// Token classes: where a token (BLAS column) sits in the kernel's panels.
const (
	clsSeq   = iota // one accumulator for every feature
	clsLeft         // first 6 tokens of a panel of 12
	clsRight        // last 6 tokens of a panel of 12
	clsN4           // the 4-token edge panel
	nClasses
)

// orderPlan is the per-call lookup of which outputs OpenBLAS sums with two
// accumulators.
type orderPlan struct {
	depth int
	// rowFirst and rowLater are the classes of each row's token in the
	// first feature block (whose kernel calls see the tokens in chunks of
	// 12, 4, ...) and in the later ones (one call over all tokens).
	rowFirst, rowLater []uint8
	// feat[t][b][c] has bit j set when feature 16t+j is summed with two
	// accumulators for tokens of class c; b = 0 for the first feature
	// block, 1 for the others.
	feat [][2][nClasses]uint16
}

func newOrderPlan(g TorchGEMM, M, N int) *orderPlan {
	first := make([]uint8, g.Tokens)
	for c0 := 0; c0 < g.Tokens; {
		nc := g.Tokens - c0
		switch {
		case nc >= 12:
			nc = 12
		case nc > 4:
			nc = 4
		}
		for j := 0; j < nc; j++ {
			first[c0+j] = panelClass(j, nc)
		}
		c0 += nc
	}
	p := &orderPlan{depth: g.Depth, rowFirst: make([]uint8, M), rowLater: make([]uint8, M)}
	for m := 0; m < M; m++ {
		t := g.Row0 + m
		if g.Period > 0 {
			t = g.Row0 + m%g.Period
		}
		if t < 0 || t >= g.Tokens {
			panic(fmt.Sprintf("kernels.MatMulTTorch: row %d is token %d, outside [0,%d)", m, t, g.Tokens))
		}
		p.rowFirst[m] = first[t]
		p.rowLater[m] = panelClass(t, g.Tokens)
	}
	p.feat = make([][2][nClasses]uint16, (N+nr-1)/nr)
	for s, mc := 0, 0; s < N; s += mc {
		mc = kBlock(g.Features-s, defaultTuning().kc) // OpenBLAS blocks M by K's rule
		b := 1
		if s == 0 {
			b = 0
		}
		m8 := mc - mc%8
		for i := 0; i < mc && s+i < N; i++ {
			f := s + i
			bit := uint16(1) << (f % nr)
			last := mc >= 16 && i >= m8-8 && i < m8
			odd := (m8/8)%2 == 1
			if mc >= 16 && (i < 8 || last && !odd) {
				p.feat[f/nr][b][clsLeft] |= bit
			}
			if last && odd {
				p.feat[f/nr][b][clsRight] |= bit
			}
			if i < m8 {
				p.feat[f/nr][b][clsN4] |= bit
			}
		}
	}
	return p
}

// panelClass is the class of token j of a kernel call over nc tokens:
// panels of 12 (left and right halves) while 12 remain, then an 8-token
// panel (one accumulator) or a 4-token one (two), then 2 and 1 (one).
func panelClass(j, nc int) uint8 {
	full := nc / 12 * 12
	switch r := nc - full; {
	case j < full && j%12 < 6:
		return clsLeft
	case j < full:
		return clsRight
	case r >= 4 && r < 8 && j < full+4:
		return clsN4
	}
	return clsSeq
}

// mask returns, for row m and the 16 features of the tile at feature jr,
// which outputs are summed with two accumulators.
func (p *orderPlan) mask(m, jr int) uint16 {
	f := &p.feat[jr/nr]
	return f[0][p.rowFirst[m]] | f[1][p.rowLater[m]]
}
