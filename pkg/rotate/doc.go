// Package rotate implements mllm's offline rotation (spec §3): random
// Hadamard matrices, the R file, and folding the rotation into a model's
// float32 weights (RotateModel).
//
// # Matrices
//
// RandomHadamard(n) is mllm's random_hadamard: R = diag(s)·Mᵀ/d with random
// signs s, M = kron(hadK, H_{n/K}) (Sylvester H in natural order) and
// d = float32(√n) widened to float64 (quirk Q7, kept: R·Rᵀ = (n/d²)·I, so
// the rotated model differs from the original by about 1e-7 relative). K is
// chosen by mllm's first match among 172, 156, 140, 108, 60, 52, 36, 28, 40,
// 20, 12 (then n/K must be a power of two), else K = 1 for powers of two;
// other sizes (for example 4864, 18944, 2816) are rejected with an error
// naming the size. The 11 base tables hadK are built from the closed forms
// of spec Appendix A (Paley I and II, doubling, Williamson) and checked
// against the spec's SHA-256 digests.
//
// # Randomness
//
// mllm draws the signs from torch's unseeded global RNG, which cannot and
// need not be reproduced (only the math and the file format matter). Here
// the signs come from an explicit generator: NewRotation(hidden, headDim,
// layers, seed) uses NewRNG(seed) (math/rand/v2 PCG seeded with (seed, 0))
// and consumes it in mllm's order: R's n signs, then R_v[0] … R_v[L−1], one
// Uint64 per sign (s = +1 when its top bit is set). Callers record the seed.
//
// # R files
//
// Save writes torch.save({"R": float64 [n,n], "R_v": [float64 [hd,hd]] * L})
// through pkg/pth (zip format, loadable with torch.load(weights_only=True)).
// Load reads mllm's files (zip or legacy; storage locations such as cuda:0
// are ignored), files from torch, and Save's output; a single-tensor R_v is
// shared by every layer, as in mllm.
//
// # Numerics
//
// RotateModel follows spec §3.4 step by step (untie, fuse norms, rotate),
// each step computed in float64 from the float32 weights and rounded to
// float32 once, exactly like mllm's `(W.double() @ R).float()`. When a
// matrix has mllm's random Hadamard form (recognised from its values, so R
// files from mllm qualify too), W·R is computed as a fast Walsh–Hadamard
// transform: sign flips, butterflies, the K×K base table, and one multiply
// by the entry magnitude 1/d — O(n·(log n + K)) per row instead of O(n²).
// On CPUs with AVX2 the transform runs on assembly primitives (fwht.go)
// that perform each vector's float64 operations unchanged (no FMA), only
// reordered across independent elements and vectors, so the output is
// bit-identical to the portable code (tested bit for bit).
// Any other matrix uses a dense float64 product summed in index order, with
// every product explicitly rounded (`float64(a*b)`) so that Go cannot fuse
// it into an FMA on any architecture. Both paths give the exact result up
// to float64 rounding, so they agree with each other and with torch's DGEMM
// after the float32 rounding except for rare 1-ulp differences (see
// scripts/interop_rotate.py). The work is split across goroutines by
// independent vectors: the bytes do not depend on the number of workers.
package rotate
