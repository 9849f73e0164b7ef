//go:build amd64

package quant

// q4kLanes is the working set of the AVX2 Q4_K quantizer for one
// super-block. The [32][8] arrays are transposed: row i, lane j is value i
// of sub-block j. Field offsets are fixed by q4k_amd64.s.
type q4kLanes struct {
	x      [32][8]float32 // the values
	w      [32][8]float32 // weights avX + |x|
	la     [32][8]float32 // levels of the current candidate
	l      [32][8]int32   // levels out (0..15)
	scale  [8]float32     // make_qkx2_quants scale out
	theMin [8]float32     // make_qkx2_quants the_min out
	dj     [8]float32     // d·sc in (q4kRequantAVX2)
	dm     [8]float32     // dmin·m in
	sumW   [8]float32
	sumX   [8]float32
	max    [8]float32
	eq     [8]uint32  // all ones where max == min
	lMin   [8]float32 // min that produced the best levels
	bMad   [8]float32 // best weighted error so far
	bScale [8]float32
	bMin   [8]float32 // best (and running) min
	bIs    [8]float32 // inverse scale that produced the best levels
	dMask  [8]uint32  // all ones where the candidate's D > 0
	cIs    [8]float32 // the candidate's inverse scale
	tMin   [8]float32 // true minimum of the values
	nums   [21]float32
}

// q4kScalesAVX2 runs make_qkx2_quants(15, …, −1, 0.1, 20) with ggml's
// Q4_K weights on the eight sub-blocks of the 256 values at xa, filling
// sa.x, sa.l, sa.scale and sa.theMin, and likewise for xb and sb (xb may be
// xa when sb ≠ sa). sa.nums must hold q4kNums.
//
//go:noescape
func q4kScalesAVX2(xa, xb *float32, sa, sb *q4kLanes)

// q4kRequantAVX2 sets s.l to clampInt(nearestInt((x+dm)/dj), 0, 15) in the
// lanes whose s.dj is not zero.
//
//go:noescape
func q4kRequantAVX2(s *q4kLanes)

// q4kRequantPackAVX2 writes to q (128 bytes) the packed Q4_K levels
// clampInt(nearestInt((x + dm)/dj), 0, 15) of the 256 values at x (not
// transposed), sub-block j with s.dj[j] and s.dm[j]; every s.dj must be
// non-zero.
//
//go:noescape
func q4kRequantPackAVX2(x *float32, s *q4kLanes, q *byte)

func quantizeQ4KBlocks(dst []byte, x []float32, nb int) {
	if haveAVX2 {
		quantizeQ4KAVX2(dst, x, nb)
		return
	}
	quantizeQ4KGeneric(dst, x, nb)
}

// quantizeQ4KAVX2 is quantizeQ4KGeneric with the sub-block searches and the
// final requantization in SIMD lanes; the scale packing is the same Go code.
func quantizeQ4KAVX2(dst []byte, x []float32, nb int) {
	var s [2]q4kLanes
	q4kNums(&s[0].nums, -1, 0.1, 15)
	for i := 0; i < nb; i += 2 {
		xa := x[i*QK_K : (i+1)*QK_K]
		xb := xa
		if i+1 < nb {
			xb = x[(i+1)*QK_K : (i+2)*QK_K]
		}
		q4kScalesAVX2(&xa[0], &xb[0], &s[0], &s[1])
		for k := range min(2, nb-i) {
			q4kFinishBlock(dst[(i+k)*BlockQ4KBytes:(i+k+1)*BlockQ4KBytes], x[(i+k)*QK_K:(i+k+1)*QK_K], &s[k])
		}
	}
}

// q4kFinishBlock writes one Q4_K block of the 256 values x from the scale
// search in s: the packed scales (the portable code's), the requantized
// levels, the nibbles.
func q4kFinishBlock(y []byte, x []float32, s *q4kLanes) {
	d, dmin := q4kPackScales(y, &s.scale, &s.theMin)
	sc := y[4:16]
	zero := false
	for j := range QK_K / 32 {
		sj, mj := getScaleMinK4(j, sc)
		s.dj[j] = float32(d * float32(sj))
		s.dm[j] = float32(dmin * float32(mj))
		zero = zero || s.dj[j] == 0
	}
	q := y[16 : 16+QK_K/2]
	if !zero {
		q4kRequantPackAVX2(&x[0], s, &q[0])
		return
	}
	// A sub-block whose d·sc is 0 keeps the search's levels (ggml skips
	// its requantization), which are in s.l.
	q4kRequantAVX2(s)
	for k := range 4 {
		qk := q[32*k : 32*k+32]
		for l := range 32 {
			qk[l] = uint8(s.l[l][2*k]) | uint8(s.l[l][2*k+1])<<4
		}
	}
}

// q4kNums fills the numerators rmin + rdelta·is + nmax of
// make_qkx2_quants' candidate inverse scales, in its float32 order.
func q4kNums(nums *[21]float32, rmin, rdelta, fnmax float32) {
	for is := range nums {
		nums[is] = rmin + float32(rdelta*float32(is)) + fnmax
	}
}
