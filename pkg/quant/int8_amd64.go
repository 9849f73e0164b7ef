//go:build amd64

package quant

import "golang.org/x/sys/cpu"

// int8AVX2 selects the assembly int8 rounding kernel (read-only after init).
var int8AVX2 = cpu.X86.HasAVX2

// quantInt8AVX2 sets dst[i] = quantInt8(src[i], scale) for i < n, n a
// multiple of 32: the same IEEE division, the same nearestInt bit trick and
// the clamp as the saturation of the int32→int8 packs.
//
//go:noescape
func quantInt8AVX2(dst *int8, src *float32, n int, scale float32)

// quantRowAsm quantizes the longest prefix of src the assembly kernel
// handles and returns its length (0 without AVX2).
func quantRowAsm(dst []int8, src []float32, scale float32) int {
	n := len(src) &^ 31
	if !int8AVX2 || n == 0 {
		return 0
	}
	_ = dst[n-1]
	quantInt8AVX2(&dst[0], &src[0], n, scale)
	return n
}
