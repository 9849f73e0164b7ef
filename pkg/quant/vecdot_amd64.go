//go:build amd64

package quant

import "golang.org/x/sys/cpu"

// haveAVX2 selects the assembly integer kernels (read-only after init).
var haveAVX2 = cpu.X86.HasAVX2

// q4kSumsAVX2 writes, for each of nb consecutive Q4_K blocks at w and Q8_K
// blocks at a, the eight exact sub-block sums Σ nibble·q8 to out[8i..8i+7].
//
//go:noescape
func q4kSumsAVX2(w, a *byte, nb int, out *int32)

// q40LanesAVX2 writes the four NEON dot-product lanes of nb consecutive
// Q4_0 × Q8_0 block pairs to out[4i..4i+3].
//
//go:noescape
func q40LanesAVX2(w, a *byte, nb int, out *int32)

// q80LanesAVX2 is q40LanesAVX2 for Q8_0 × Q8_0.
//
//go:noescape
func q80LanesAVX2(w, a *byte, nb int, out *int32)
