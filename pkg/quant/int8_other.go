//go:build !amd64

package quant

// quantRowAsm has no assembly kernel on this architecture: it handles
// nothing and quantRow does all the work.
func quantRowAsm(dst []int8, src []float32, scale float32) int { return 0 }
