//go:build amd64

package tensor

import "golang.org/x/sys/cpu"

// convAVX2 selects the assembly bf16 kernel (read-only after init).
var convAVX2 = cpu.X86.HasAVX2

// bf16ToF32AVX2 widens n bf16 values (n a multiple of 16) from src into
// dst and reports whether any has its exponent bits all ones.
//
//go:noescape
func bf16ToF32AVX2(dst *float32, src *byte, n int) bool

// bf16ToF32Asm converts the longest prefix the assembly kernel handles and
// returns its length and whether it held a NaN or Inf (0, false without
// AVX2).
func bf16ToF32Asm(dst []float32, raw []byte) (int, bool) {
	n := len(dst) &^ 15
	if !convAVX2 || n == 0 {
		return 0, false
	}
	_ = raw[2*n-1]
	return n, bf16ToF32AVX2(&dst[0], &raw[0], n)
}

// f32CopyAVX2 copies n float32 (n a multiple of 16) from src to dst and
// reports whether any has its exponent bits all ones.
//
//go:noescape
func f32CopyAVX2(dst *float32, src *byte, n int) bool

// f32CopyAsm copies the longest prefix the assembly kernel handles and
// returns its length and whether it held a NaN or Inf (0, false without
// AVX2).
func f32CopyAsm(dst []float32, raw []byte) (int, bool) {
	n := len(dst) &^ 15
	if !convAVX2 || n == 0 {
		return 0, false
	}
	_ = raw[4*n-1]
	return n, f32CopyAVX2(&dst[0], &raw[0], n)
}
