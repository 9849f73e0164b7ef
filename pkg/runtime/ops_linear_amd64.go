//go:build amd64

package runtime

import "golang.org/x/sys/cpu"

// haveAVX2 selects the assembly integer dot product (read-only after init).
var haveAVX2 = cpu.X86.HasAVX2

// dotI16I8AVX2 returns Σ x[k]·w[k] for n (a multiple of 16) elements.
//
//go:noescape
func dotI16I8AVX2(x *int16, w *int8, n int) int64

// dotI16I8 is the exact integer dot product Σ x[k]·w[k].
func dotI16I8(x []int16, w []int8) int64 {
	n := len(x) &^ 15
	var acc int64
	if haveAVX2 && n > 0 {
		_ = w[n-1]
		acc = dotI16I8AVX2(&x[0], &w[0], n)
	} else {
		n = 0
	}
	return acc + dotI16I8Generic(x[n:], w[n:len(x)])
}
