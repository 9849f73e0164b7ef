package rotate

import "math/bits"

// The fast path of engine.rightMul and engine.leftMulT for hadamard
// operators. It performs, for every vector, exactly the float64 operations
// of hadamard.apply in the same order (sign flips, the butterflies p ← a+b,
// q ← a−b of each stage, the sums and S − 2·Σ / 2·Σ − S of the base table,
// the multiplication by r, the rounding to float32); only the order in
// which independent operations run, and the memory layout, differ. So its
// output is bit-identical to the generic path.
//
// Layouts. rightMul keeps each row contiguous (x[i] is element i of one
// vector): the butterfly stages of half 1 and 2 run inside a 4-wide group
// (loadSign12), the stages of half h ≥ 4 as radix passes with stride h.
// leftMulT keeps 16 columns interleaved (x[i·16+c] is element i of vector
// c), so the stage of half h is a radix pass with stride 16·h. In both
// layouts block a of the base table is the contiguous range
// [a·L, (a+1)·L) with L = m·W (W = 1 or 16), so the base-table step is a
// sequence of whole-range vector additions.

// fwhtKernels is one implementation of the primitives the fast path is
// built from. Lengths are multiples of 4 (see each field).
type fwhtKernels struct {
	name string
	// loadSign12 sets dst[i] = float64(src[i]) with its sign bit XORed by
	// mask[i], then applies the butterfly stages of half 1 and 2 within
	// each aligned group of 4. len(dst) = len(src) = len(mask) = n, n%4 == 0.
	loadSign12 func(dst []float64, src []float32, mask []uint64)
	// loadScaleSign12 is loadSign12 of float32(float64(src[i])·float64(g[i]))
	// (fuse's product, exact in float64 and rounded once to float32).
	loadScaleSign12 func(dst []float64, src, g []float32, mask []uint64)
	// radix applies the butterfly stages of stride s, 2s, …, (R/2)·s
	// (R = 2, 4 or 8) to x; len(x) is a multiple of R·s, s a multiple of 4.
	radix func(x []float64, s, r int)
	// mulStore sets dst[i] = float32(src[i]·r); len(dst) = len(src).
	mulStore func(dst []float32, src []float64, r float64)
	// gather16 sets dst[k·16+c] = float64(src[k·ld+c]) with its sign bit
	// XORed by mask[k], for k < len(mask), c < 16.
	gather16 func(dst []float64, src []float32, ld int, mask []uint64)
	// scatter16 sets dst[k·ld+c] = float32(src[k·16+c]·r) for
	// k < len(src)/16, c < 16.
	scatter16 func(dst []float32, ld int, src []float64, r float64)
	// addVec sets dst[i] = dst[i] + src[i]; len(dst) = len(src).
	addVec func(dst, src []float64)
	// combine sets out[i] = s[i] − 2·out[i] when neg, else 2·out[i] − s[i].
	combine func(out, s []float64, neg bool)
}

// goKernels is the portable implementation of the fast path's primitives
// (the reference the assembly is tested against).
var goKernels = &fwhtKernels{
	name:            "go",
	loadSign12:      loadSign12Go,
	loadScaleSign12: loadScaleSign12Go,
	radix:           radixGo,
	mulStore:        mulStoreGo,
	gather16:        gather16Go,
	scatter16:       scatter16Go,
	addVec:          addVecGo,
	combine:         combineGo,
}

const signBit = 1 << 63

func loadSign12Go(dst []float64, src []float32, mask []uint64) {
	dst = dst[:len(src)]
	mask = mask[:len(src)]
	for i, v := range src {
		dst[i] = float64(v)
		if mask[i] != 0 {
			dst[i] = -dst[i]
		}
	}
	for i := 0; i+3 < len(dst); i += 4 {
		g := dst[i : i+4 : i+4]
		a, b, c, d := g[0]+g[1], g[0]-g[1], g[2]+g[3], g[2]-g[3]
		g[0], g[1], g[2], g[3] = a+c, b+d, a-c, b-d
	}
}

func loadScaleSign12Go(dst []float64, src, g []float32, mask []uint64) {
	g = g[:len(src)]
	t := make([]float32, len(src))
	for i, v := range src {
		t[i] = float32(float64(v) * float64(g[i]))
	}
	loadSign12Go(dst, t, mask)
}

func radixGo(x []float64, s, r int) {
	for blk := 0; blk < len(x); blk += r * s {
		for h := s; h < r*s; h <<= 1 {
			for i := blk; i < blk+r*s; i += 2 * h {
				p := x[i : i+h]
				q := x[i+h : i+2*h]
				for c := range p {
					a, b := p[c], q[c]
					p[c] = a + b
					q[c] = a - b
				}
			}
		}
	}
}

func mulStoreGo(dst []float32, src []float64, r float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = float32(v * r)
	}
}

func gather16Go(dst []float64, src []float32, ld int, mask []uint64) {
	for k, m := range mask {
		d := dst[k*16 : k*16+16]
		for c, v := range src[k*ld : k*ld+16] {
			d[c] = float64(v)
			if m != 0 {
				d[c] = -d[c]
			}
		}
	}
}

func scatter16Go(dst []float32, ld int, src []float64, r float64) {
	for k := 0; k < len(src)/16; k++ {
		d := dst[k*ld : k*ld+16]
		for c, v := range src[k*16 : k*16+16] {
			d[c] = float32(v * r)
		}
	}
}

func addVecGo(dst, src []float64) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

func combineGo(out, s []float64, neg bool) {
	s = s[:len(out)]
	if neg {
		for i := range out {
			out[i] = s[i] - 2*out[i]
		}
		return
	}
	for i := range out {
		out[i] = 2*out[i] - s[i]
	}
}

// fastOK reports whether h can take the fast path: blocks of at least 4
// elements (the in-register stages of loadSign12 stay inside a block).
func (h *hadamard) fastOK() bool { return h.m >= 4 }

// signMask is s as sign-bit masks (1<<63 where s_i = −1).
func (h *hadamard) signMask() []uint64 {
	m := make([]uint64, h.n)
	for i, s := range h.s {
		if s < 0 {
			m[i] = signBit
		}
	}
	return m
}

// radixPasses applies the butterfly stages of stride s, 2s, …, up to (but
// excluding) stride end, three at a time where possible.
func radixPasses(kn *fwhtKernels, x []float64, s, end int) {
	for s < end {
		left := bits.Len(uint(end/s)) - 1 // stages remaining
		r := 8
		switch left {
		case 1:
			r = 2
		case 2:
			r = 4
		}
		kn.radix(x, s, r)
		s *= r
	}
}

// baseTable applies the k×k base table across the k blocks of length l of
// x (exactly as hadamard.apply does, element by element) and returns the
// result, written to y; sum is scratch of length l.
func (h *hadamard) baseTable(kn *fwhtKernels, x, y, sum []float64, l int) []float64 {
	sum = sum[:l]
	clear(sum)
	for a := 0; a < h.k; a++ {
		kn.addVec(sum, x[a*l:(a+1)*l])
	}
	for a := 0; a < h.k; a++ {
		out := y[a*l : (a+1)*l]
		clear(out)
		for _, a2 := range h.minority[a] {
			kn.addVec(out, x[a2*l:(a2+1)*l])
		}
		kn.combine(out, sum, h.minorityNeg[a])
	}
	return y[:h.k*l]
}

// rightMulFast is rightMul for a hadamard operator with h.fastOK(); with a
// non-nil g every row is first multiplied by g elementwise (fuse's
// arithmetic), without storing the fused row.
func (e *engine) rightMulFast(data []float32, h *hadamard, g []float32) {
	kn := e.kern
	n := h.n
	rows := len(data) / n
	mask := h.signMask()
	items := (rows + vecBlock - 1) / vecBlock
	slen := 0
	if h.k > 1 {
		slen = n + h.m
	}
	e.parallel(items, n, slen, func(it int, x, s []float64) {
		r0 := it * vecBlock
		r1 := min(r0+vecBlock, rows)
		for row := r0; row < r1; row++ {
			v := data[row*n : (row+1)*n]
			if g != nil {
				kn.loadScaleSign12(x, v, g, mask)
			} else {
				kn.loadSign12(x, v, mask)
			}
			radixPasses(kn, x, 4, h.m)
			y := x
			if h.k > 1 {
				y = h.baseTable(kn, x, s[:n], s[n:], h.m)
			}
			kn.mulStore(v, y, h.r)
		}
	})
}

// leftMulTFast is leftMulT for a hadamard operator with h.fastOK(): full
// 16-column strips take the fast path, a narrower last strip the generic
// one.
func (e *engine) leftMulTFast(data []float32, cols int, h *hadamard) {
	const w = 16
	kn := e.kern
	n := h.n
	groups := len(data) / (n * cols)
	per := (cols + w - 1) / w
	mask := h.signMask()
	xlen := n * w
	slen := scratchLen(n, w)
	if h.k > 1 {
		slen = max(slen, n*w+h.m*w)
	}
	e.parallel(groups*per, xlen, slen, func(it int, x, s []float64) {
		g, c0 := it/per, (it%per)*w
		nv := min(w, cols-c0)
		blk := data[g*n*cols : (g+1)*n*cols]
		if nv < w {
			e.leftMulTItem(blk, cols, c0, nv, h, x, s)
			return
		}
		kn.gather16(x, blk[c0:], cols, mask)
		radixPasses(kn, x, w, h.m*w)
		y := x
		if h.k > 1 {
			y = h.baseTable(kn, x, s[:n*w], s[n*w:], h.m*w)
		}
		kn.scatter16(blk[c0:], cols, y, h.r)
	})
}
