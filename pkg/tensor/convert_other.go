//go:build !amd64

package tensor

// bf16ToF32Asm has no assembly kernel on this architecture: it converts
// nothing and bf16ToF32 does all the work.
func bf16ToF32Asm(dst []float32, raw []byte) (int, bool) { return 0, false }

// f32CopyAsm has no assembly kernel on this architecture: it copies
// nothing and f32ToF32 does all the work.
func f32CopyAsm(dst []float32, raw []byte) (int, bool) { return 0, false }
