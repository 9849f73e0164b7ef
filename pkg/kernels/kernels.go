// Package kernels provides fast float32 linear-algebra kernels for inference:
// the matrix product x·Wᵀ with W stored row-major as [out, in] (the layout of
// every Linear weight in a checkpoint), plus Dot and Axpy helpers and
// ParallelRanges, the multi-core loop the other numeric packages share.
//
// On amd64 CPUs with AVX2 and FMA (detected at run time with
// golang.org/x/sys/cpu) the kernels run hand-written Go assembly; everywhere
// else, and as a cross-check in the tests, a portable pure-Go implementation
// of the same blocked algorithm is used. No build tag, GOEXPERIMENT or cgo is
// needed: a plain `go build` produces the fast binary.
//
// MatMulT is multi-core: goroutines work on disjoint tiles of the output, so
// the result does not depend on the thread count or on scheduling.
//
// # Numerical contract
//
// Products are accumulated in float32 (fused multiply-add on the SIMD path)
// in a fixed order that depends only on the shape and the implementation
// (never on the thread count). With more than GemvMaxRows rows, each output
// starts from its bias and adds, block by block, the sum of a block of K
// accumulated from zero in k order; the blocks follow OpenBLAS's level-3
// rule with its Zen/Haswell depth of 320 (kBlock), so most outputs have
// the bits of torch's CPU Linear there; MatMulTTorch also sums the
// outputs OpenBLAS's edge tiles sum with two accumulators that way, and
// then has all of them (see TorchGEMM). For every output element
//
//	|out - ref| ≤ γ(K+1) · (Σ_k |x_k·w_k| + |bias|),   γ(n) = n·u/(1-n·u), u = 2⁻²⁴,
//
// where ref is the float64-accumulated reference. This is the classical
// worst-case bound for any summation order (for K=2048 it is 1.2e-4 relative
// to Σ|x_k·w_k|); on Gaussian random data with K=2048 the largest observed
// error was below 0.04·√K·u·Σ|x_k·w_k|, about a thousand times inside it.
// Results are exact when all partial sums are representable (for example
// small integers), which the tests use to
// check that every term is included exactly once.
package kernels

import (
	"fmt"
	"runtime"
	"sync"
)

// MatMulT computes out[m*N+n] = Σ_k x[m*K+k]·w[n*K+k] (+ bias[n] when bias
// != nil) for m<M, n<N, i.e. out = x·Wᵀ + bias with x of shape [M,K] and W of
// shape [N,K], both row-major. It uses runtime.GOMAXPROCS(0) goroutines.
// out must not overlap x, w or bias. It panics if a slice is too short.
func MatMulT(out, x, w, bias []float32, M, N, K int) {
	matMulT(best, 0, out, x, w, bias, M, N, K)
}

// MatMulTThreads is MatMulT using at most threads goroutines; threads <= 0
// means runtime.GOMAXPROCS(0). The result is identical for every thread count.
func MatMulTThreads(threads int, out, x, w, bias []float32, M, N, K int) {
	matMulT(best, threads, out, x, w, bias, M, N, K)
}

// Dot returns Σ_i a[i]·b[i] accumulated in float32. It panics if the lengths
// differ.
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("kernels.Dot: length mismatch %d != %d", len(a), len(b)))
	}
	return best.dot(a, b)
}

// Axpy computes y[i] += alpha·x[i] for every i. It panics if the lengths
// differ.
func Axpy(alpha float32, x, y []float32) {
	if len(x) != len(y) {
		panic(fmt.Sprintf("kernels.Axpy: length mismatch %d != %d", len(x), len(y)))
	}
	best.axpy(alpha, x, y)
}

// Impl names the implementation MatMulT, Dot and Axpy use on this machine:
// "avx2-fma" or "generic".
func Impl() string { return best.name }

// impl is one implementation of the inner kernels; the blocked driver in
// matmul.go is shared by all of them.
type impl struct {
	name string
	// kernel computes c[i*ldc+j] += Σ_{p<kc} a[i*lda+p]·b[p*nr+j] for
	// i < mr, j < nr. b is a packed panel of kc×nr values.
	kernel func(kc int, a []float32, lda int, b []float32, c []float32, ldc int)
	// dotRows computes out[j] = Σ_{k<K} x[k]·w[j*K+k] for j < len(out).
	dotRows func(out, x, w []float32, K int)
	// dot3x4 computes out[i*4+j] = Σ_{k<K} xi[k]·w[j*K+k] for i < 3,
	// j < 4: three rows of x against four rows of W.
	dot3x4 func(out *[12]float32, x0, x1, x2, w []float32, K int)
	// packB packs rows n0..n0+cols-1 (cols ≤ nr), columns p0..p0+kc-1 of the
	// row-major [*, K] matrix w into dst as kc×nr (k-major), zero-padding
	// missing columns.
	packB func(dst, w []float32, K, n0, cols, p0, kc int)
	// pair computes an mr×8 tile like kernel (b keeps its row stride of
	// nr) with two accumulators: for p < kp even p go to the first and odd
	// p to the second, p ≥ kp to the first; c[i*ldc+j] += second + first.
	// This is the order of OpenBLAS's edge tiles (see TorchGEMM).
	pair func(kc, kp int, a []float32, lda int, b []float32, c []float32, ldc int)
	dot  func(a, b []float32) float32
	axpy func(alpha float32, x, y []float32)
}

func resolveThreads(threads int) int {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if threads < 1 {
		threads = 1
	}
	return threads
}

// ParallelRanges splits [0, n) into chunks of at least minChunk items and
// runs f on them using up to GOMAXPROCS goroutines. f must write disjoint
// outputs; the result is then independent of scheduling.
func ParallelRanges(n, minChunk int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers <= 1 || n <= minChunk {
		f(0, n)
		return
	}
	chunk := max(minChunk, (n+workers*4-1)/(workers*4))
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			f(lo, hi)
			<-sem
		}()
	}
	wg.Wait()
}
