//go:build amd64

package rotate

import "golang.org/x/sys/cpu"

// bestKernels returns the AVX2 primitives when the CPU (and OS) support
// AVX2, else nil (the generic code). cpu.X86 already accounts for OS
// support of the YMM state.
func bestKernels() *fwhtKernels {
	if cpu.X86.HasAVX2 {
		return avx2Kernels
	}
	return nil
}

// avx2Kernels are the fast path's primitives in AVX2 assembly
// (fwht_amd64.s); they compute exactly what goKernels compute.
var avx2Kernels = &fwhtKernels{
	name:            "avx2",
	loadSign12:      loadSign12AVX2Slice,
	loadScaleSign12: loadScaleSign12AVX2Slice,
	radix:           radixAVX2Slice,
	mulStore:        mulStoreAVX2Slice,
	gather16:        gather16AVX2Slice,
	scatter16:       scatter16AVX2Slice,
	addVec:          addVecAVX2Slice,
	combine:         combineAVX2Slice,
}

//go:noescape
func loadSign12AVX2(dst *float64, src *float32, mask *uint64, n int)

//go:noescape
func loadScaleSign12AVX2(dst *float64, src *float32, scale *float32, mask *uint64, n int)

//go:noescape
func radix8AVX2(x *float64, n int, s int)

//go:noescape
func radix4AVX2(x *float64, n int, s int)

//go:noescape
func radix2AVX2(x *float64, n int, s int)

//go:noescape
func mulStoreAVX2(dst *float32, src *float64, r float64, n int)

//go:noescape
func gather16AVX2(dst *float64, src *float32, ld int, mask *uint64, rows int)

//go:noescape
func scatter16AVX2(dst *float32, ld int, src *float64, r float64, rows int)

//go:noescape
func addVecAVX2(dst, src *float64, n int)

//go:noescape
func combineAVX2(out, s *float64, n int, neg bool)

// The wrappers check the bounds the assembly relies on (a panic, never an
// out-of-bounds access, on misuse) and fall back to the Go code for the
// shapes the assembly does not handle.

func loadSign12AVX2Slice(dst []float64, src []float32, mask []uint64) {
	n := len(src)
	if n == 0 || n%4 != 0 {
		loadSign12Go(dst, src, mask)
		return
	}
	_, _ = dst[n-1], mask[n-1]
	loadSign12AVX2(&dst[0], &src[0], &mask[0], n)
}

func loadScaleSign12AVX2Slice(dst []float64, src, g []float32, mask []uint64) {
	n := len(src)
	if n == 0 || n%4 != 0 {
		loadScaleSign12Go(dst, src, g, mask)
		return
	}
	_, _, _ = dst[n-1], g[n-1], mask[n-1]
	loadScaleSign12AVX2(&dst[0], &src[0], &g[0], &mask[0], n)
}

func radixAVX2Slice(x []float64, s, r int) {
	n := len(x)
	if n == 0 || s <= 0 || s%4 != 0 || n%(r*s) != 0 {
		radixGo(x, s, r)
		return
	}
	switch r {
	case 8:
		radix8AVX2(&x[0], n, s)
	case 4:
		radix4AVX2(&x[0], n, s)
	case 2:
		radix2AVX2(&x[0], n, s)
	default:
		radixGo(x, s, r)
	}
}

func mulStoreAVX2Slice(dst []float32, src []float64, r float64) {
	n := len(src)
	if n == 0 || n%4 != 0 {
		mulStoreGo(dst, src, r)
		return
	}
	_ = dst[n-1]
	mulStoreAVX2(&dst[0], &src[0], r, n)
}

func gather16AVX2Slice(dst []float64, src []float32, ld int, mask []uint64) {
	rows := len(mask)
	if rows == 0 || ld < 16 {
		gather16Go(dst, src, ld, mask)
		return
	}
	_, _ = dst[rows*16-1], src[(rows-1)*ld+15]
	gather16AVX2(&dst[0], &src[0], ld, &mask[0], rows)
}

func scatter16AVX2Slice(dst []float32, ld int, src []float64, r float64) {
	rows := len(src) / 16
	if rows == 0 || ld < 16 || len(src)%16 != 0 {
		scatter16Go(dst, ld, src, r)
		return
	}
	_ = dst[(rows-1)*ld+15]
	scatter16AVX2(&dst[0], ld, &src[0], r, rows)
}

func addVecAVX2Slice(dst, src []float64) {
	n := len(dst)
	if n == 0 || n%4 != 0 {
		addVecGo(dst, src)
		return
	}
	_ = src[n-1]
	addVecAVX2(&dst[0], &src[0], n)
}

func combineAVX2Slice(out, s []float64, neg bool) {
	n := len(out)
	if n == 0 || n%4 != 0 {
		combineGo(out, s, neg)
		return
	}
	_ = s[n-1]
	combineAVX2(&out[0], &s[0], n, neg)
}
