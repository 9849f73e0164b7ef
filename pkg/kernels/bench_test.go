package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are the acceptance shapes: prefill [512×2048]·[2048×2048]ᵀ and
// decode (GEMV) [1×2048]·[5504×2048]ᵀ.
var benchShapes = []struct{ M, N, K int }{
	{512, 2048, 2048},
	{1, 5504, 2048},
}

// BenchmarkMatMulT reports GFLOP/s (2·M·N·K per op) for the implementation
// MatMulT uses. Run with -bench MatMulT; scripts/bench_kernels.sh compares it
// with OpenBLAS.
func BenchmarkMatMulT(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("M%d_N%d_K%d", sh.M, sh.N, sh.K), func(b *testing.B) {
			b.Logf("kernels implementation: %s", Impl())
			benchMatMulT(b, best, sh.M, sh.N, sh.K)
		})
	}
}

// BenchmarkMatMulTGeneric is the same for the portable pure-Go path.
func BenchmarkMatMulTGeneric(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("M%d_N%d_K%d", sh.M, sh.N, sh.K), func(b *testing.B) {
			benchMatMulT(b, generic, sh.M, sh.N, sh.K)
		})
	}
}

func benchMatMulT(b *testing.B, im *impl, M, N, K int) {
	r := rand.New(rand.NewPCG(7, 8))
	x := randSlice(r, M*K)
	w := randSlice(r, N*K)
	out := make([]float32, M*N)
	b.SetBytes(int64(4 * N * K))
	b.ResetTimer()
	for b.Loop() {
		matMulT(im, 0, out, x, w, nil, M, N, K)
	}
	b.ReportMetric(2*float64(M)*float64(N)*float64(K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	x, y := randSlice(r, 4096), randSlice(r, 4096)
	b.SetBytes(2 * 4 * 4096)
	var s float32
	for b.Loop() {
		s += Dot(x, y)
	}
	_ = s
}

// BenchmarkMatMulTTorch is the prefill shape in torch's OpenBLAS order
// (MatMulTTorch); compare with BenchmarkMatMulT's first shape for the
// cost of the two-accumulator tiles.
func BenchmarkMatMulTTorch(b *testing.B) {
	const M, N, K = 512, 2048, 2048
	r := rand.New(rand.NewPCG(7, 8))
	x := randSlice(r, M*K)
	w := randSlice(r, N*K)
	out := make([]float32, M*N)
	g := TorchGEMM{Tokens: M, Features: N, Depth: K}
	b.SetBytes(int64(4 * N * K))
	for b.Loop() {
		MatMulTTorch(out, x, w, nil, M, N, K, g)
	}
	b.ReportMetric(2*float64(M)*float64(N)*float64(K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
