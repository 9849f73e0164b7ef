//go:build amd64

package kernels

import "golang.org/x/sys/cpu"

// best is the implementation used by the exported functions: the AVX2+FMA
// assembly when the CPU and OS support it, else the portable one. It is
// decided once at package initialisation and never changes.
var best = func() *impl {
	if hasAVX2FMA {
		return avx2
	}
	return generic
}()

// hasAVX2FMA reports whether the AVX2+FMA kernels may run (cpu.X86 already
// accounts for OS support of the YMM state).
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// avx2 is the AVX2+FMA assembly implementation.
var avx2 = &impl{
	name:    "avx2-fma",
	kernel:  kernelAVX2,
	dotRows: dotRowsAVX2,
	dot3x4:  dot3x4AVX2Slice,
	packB:   packBAVX2,
	pair:    pairAVX2,
	dot:     dotAVX2Slice,
	axpy:    axpyAVX2Slice,
}

//go:noescape
func kernel6x16AVX2(kc int, a *float32, lda int, b *float32, c *float32, ldc int)

//go:noescape
func dot4AVX2(x *float32, w *float32, k int, ldw int, out *float32)

//go:noescape
func transpose8x8AVX2(src *float32, lds int, dst *float32, blocks int)

//go:noescape
func dot3x4AVX2(x0, x1, x2 *float32, w *float32, ldw int, k int, out *float32)

//go:noescape
func dotAVX2(a *float32, b *float32, n int) float32

//go:noescape
func axpyAVX2(alpha float32, x *float32, y *float32, n int)

//go:noescape
func kernel6x8PairAVX2(kc, kp int, a *float32, lda int, b *float32, c *float32, ldc int)

func pairAVX2(kc, kp int, a []float32, lda int, b []float32, c []float32, ldc int) {
	if kp < 0 || kp > kc {
		panic("kernels: pair kernel with kp outside [0, kc]")
	}
	_ = a[(mr-1)*lda+kc-1]
	_ = b[(kc-1)*nr+7]
	_ = c[(mr-1)*ldc+7]
	kernel6x8PairAVX2(kc, kp, &a[0], lda, &b[0], &c[0], ldc)
}

func kernelAVX2(kc int, a []float32, lda int, b []float32, c []float32, ldc int) {
	// Bounds the assembly relies on; cheap compared with the 6·16·kc FMAs.
	_ = a[(mr-1)*lda+kc-1]
	_ = b[kc*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	kernel6x16AVX2(kc, &a[0], lda, &b[0], &c[0], ldc)
}

func dotRowsAVX2(out, x, w []float32, K int) {
	n := len(out)
	if n == 0 {
		return
	}
	if K == 0 {
		clear(out)
		return
	}
	_ = x[K-1]
	_ = w[n*K-1]
	j := 0
	for ; j+4 <= n; j += 4 {
		dot4AVX2(&x[0], &w[j*K], K, K, &out[j])
	}
	for ; j < n; j++ {
		out[j] = dotAVX2(&x[0], &w[j*K], K)
	}
}

func dotAVX2Slice(a, b []float32) float32 {
	if len(a) == 0 {
		return 0
	}
	_ = b[len(a)-1]
	return dotAVX2(&a[0], &b[0], len(a))
}

func axpyAVX2Slice(alpha float32, x, y []float32) {
	if len(x) == 0 {
		return
	}
	_ = y[len(x)-1]
	axpyAVX2(alpha, &x[0], &y[0], len(x))
}

// packBAVX2 is packBGeneric with full 16-row panels transposed 8×8 at a time
// in assembly.
func packBAVX2(dst, w []float32, K, n0, cols, p0, kc int) {
	blocks := kc / 8
	if cols < nr || blocks == 0 {
		packBGeneric(dst, w, K, n0, cols, p0, kc)
		return
	}
	dst = dst[:kc*nr]
	base := n0*K + p0
	_ = w[base+(nr-1)*K+kc-1]
	transpose8x8AVX2(&w[base], K, &dst[0], blocks)
	transpose8x8AVX2(&w[base+8*K], K, &dst[8], blocks)
	for p := blocks * 8; p < kc; p++ {
		d := dst[p*nr : p*nr+nr]
		for j := range d {
			d[j] = w[base+j*K+p]
		}
	}
}

func dot3x4AVX2Slice(out *[12]float32, x0, x1, x2, w []float32, K int) {
	if K == 0 {
		*out = [12]float32{}
		return
	}
	_, _, _ = x0[K-1], x1[K-1], x2[K-1]
	_ = w[4*K-1]
	dot3x4AVX2(&x0[0], &x1[0], &x2[0], &w[0], K, K, &out[0])
}
