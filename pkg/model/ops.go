package model

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
)

// RMSNorm writes HF's Qwen2/Llama RMSNorm of rows rows of x (each of
// len(weight) elements) to dst, which may alias x, rounding as torch's
// float32 CPU kernels do for `weight * (x * rsqrt(x.pow(2).mean(-1) + eps))`:
//
//	var = sumF32(x·x) / d    (float32 squares, summed in torch's order)
//	r   = 1 / sqrt(var + float32(eps))    (sqrt and division each rounded)
//	dst = weight · (x · r)   (two float32 multiplies)
func RMSNorm(dst, x, weight []float32, rows int, eps float64) {
	d := len(weight)
	if len(x) < rows*d || len(dst) < rows*d {
		panic(fmt.Sprintf("model.RMSNorm: %d rows of %d need %d elements, have x %d, dst %d", rows, d, rows*d, len(x), len(dst)))
	}
	e := float32(eps)
	sq := make([]float32, d)
	for r := 0; r < rows; r++ {
		xr := x[r*d : (r+1)*d]
		for j, v := range xr {
			sq[j] = v * v
		}
		v := sumF32(sq) / float32(d)
		inv := 1 / float32(math.Sqrt(float64(v+e))) // float32 sqrt is correctly rounded via float64
		dr := dst[r*d : (r+1)*d]
		for j, v := range xr {
			dr[j] = weight[j] * (v * inv)
		}
	}
}

// RoPE is HF's default rotary position embedding in the rotate_half layout:
// for a head vector x of HeadDim elements and h = HeadDim/2,
//
//	y[i]   = x[i]·cos[i]     − x[i+h]·sin[i]
//	y[i+h] = x[i+h]·cos[i+h] + x[i]·sin[i+h]      (i < h)
//
// where cos and sin are the row for position p of torch's
// `emb = cat(freqs, freqs); emb.cos(), emb.sin()` with freqs[i] =
// float32(p)·InvFreq[i] (HF's float32 `inv_freq ⊗ positions`), so angle i
// sits at dims i and i+h. The cos/sin values are torch 1.13's on x86-64
// with AVX2, bit for bit: SLEEF's vectorized u10 sinf/cosf (sleef.go),
// whose argument reduction depends on all 8 angles of a vector.
// emb is [S][HeadDim]; torch maps it 8 elements at a time from the start
// of each parallel chunk, so when HeadDim is a multiple of 8 (and the chunk
// length is, as with one thread or two threads and HeadDim a multiple of
// 16) each row is 8-aligned and its values depend on the position alone.
// That is what RoPE computes; for other head dims it groups each row as
// if it started the tensor (exact for one position at a time).
//
// Apply keeps the cos/sin rows of the last position range it computed (an
// immutable table behind an atomic pointer, so concurrent calls are safe)
// and reuses them while they cover the requested positions and InvFreq is
// unchanged (the table holds a copy of it); InvFreq must not change during
// a call, and a RoPE must not be copied after first use.
type RoPE struct {
	HeadDim int
	// InvFreq has HeadDim/2 entries; NewRoPE fills them as HF does.
	InvFreq []float32

	rows atomic.Pointer[ropeRows]
}

// ropeRows holds cos and sin rows (HeadDim entries each) for positions
// pos0 … pos0+n−1, computed from inv.
type ropeRows struct {
	pos0, n  int
	inv      []float32
	cos, sin []float32
}

// NewRoPE computes inv_freq as torch 1.13 on AVX2 evaluates HF's float32
// `1.0 / (theta ** (torch.arange(0, headDim, 2).float() / headDim))`: the
// exponent float32(2i)/float32(headDim), the power float32(theta)^exponent,
// its float32 reciprocal. torch's pow kernel takes
// the entries 16 at a time through SLEEF's powf (sleefPowf, bit for bit);
// the last HeadDim/2 mod 16 entries go through the C library's powf, for
// which this uses the correctly rounded power (glibc's powf differs from it
// in about 0.1% of arguments). Set InvFreq directly for another convention
// (e.g. mllm's double-precision pow).
func NewRoPE(theta float64, headDim int) *RoPE {
	h := headDim / 2
	inv := make([]float32, h)
	base := float32(theta)
	for i := range inv {
		ex := float32(2*i) / float32(headDim)
		var p float32
		if i < h-h%16 {
			p = sleefPowf(base, ex)
		} else {
			p = float32(math.Pow(float64(base), float64(ex)))
		}
		inv[i] = 1 / p
	}
	return &RoPE{HeadDim: headDim, InvFreq: inv}
}

// CosSin fills cos and sin (HeadDim/2 entries each) with the first half of
// position pos's row (see RoPE): cos[i] = torch's float32
// cos(float32(pos)·InvFreq[i]), likewise sin. When HeadDim/2 is not a
// multiple of 8 the second half of the row may differ (CosSinRow has it).
func (r *RoPE) CosSin(pos int, cos, sin []float32) {
	h := len(r.InvFreq)
	if h%8 == 0 {
		ang := make([]float32, h)
		r.angles(pos, ang)
		sleefSinCos(ang, sin[:h], cos[:h])
		return
	}
	c := make([]float32, 2*h)
	s := make([]float32, 2*h)
	r.row(pos, c, s, make([]float32, 2*h))
	copy(cos[:h], c)
	copy(sin[:h], s)
}

// CosSinRow fills cos and sin (2·len(InvFreq) = HeadDim entries each) with
// position pos's row of torch's emb.cos() and emb.sin() (see RoPE).
func (r *RoPE) CosSinRow(pos int, cos, sin []float32) {
	r.row(pos, cos, sin, make([]float32, 2*len(r.InvFreq)))
}

// row is CosSinRow with ang (2·len(InvFreq) entries) as scratch.
func (r *RoPE) row(pos int, cos, sin, ang []float32) {
	h := len(r.InvFreq)
	r.angles(pos, ang[:h])
	if h%8 == 0 {
		// Both halves are the same 8-lane vectors.
		sleefSinCos(ang[:h], sin[:h], cos[:h])
		copy(cos[h:2*h], cos[:h])
		copy(sin[h:2*h], sin[:h])
		return
	}
	copy(ang[h:2*h], ang[:h])
	sleefSinCos(ang[:2*h], sin[:2*h], cos[:2*h])
}

// angles sets ang[i] = float32(pos)·InvFreq[i] (a float32 product).
func (r *RoPE) angles(pos int, ang []float32) {
	p := float32(pos)
	for i, f := range r.InvFreq {
		ang[i] = p * f
	}
}

// table returns cos/sin rows covering positions pos0 … pos0+n−1: the
// cached ones if they do, else new ones (then cached).
func (r *RoPE) table(pos0, n int) *ropeRows {
	if t := r.rows.Load(); t != nil && t.pos0 <= pos0 && pos0+n <= t.pos0+t.n && slices.Equal(t.inv, r.InvFreq) {
		return t
	}
	hd := 2 * len(r.InvFreq)
	t := &ropeRows{pos0: pos0, n: n, inv: slices.Clone(r.InvFreq),
		cos: make([]float32, n*hd), sin: make([]float32, n*hd)}
	ang := make([]float32, hd)
	for i := 0; i < n; i++ {
		r.row(pos0+i, t.cos[i*hd:(i+1)*hd], t.sin[i*hd:(i+1)*hd], ang)
	}
	r.rows.Store(t)
	return t
}

// Apply rotates x in place: rows rows, each holding heads head vectors of
// HeadDim elements; row r is at position pos0+r. Products and sums are
// float32 as in torch's `x*cos + rotate_half(x)*sin`.
func (r *RoPE) Apply(x []float32, rows, heads, pos0 int) {
	hd := r.HeadDim
	h := hd / 2
	if len(x) < rows*heads*hd {
		panic(fmt.Sprintf("model.RoPE.Apply: %d rows × %d heads × %d need %d elements, have %d", rows, heads, hd, rows*heads*hd, len(x)))
	}
	if len(r.InvFreq) != h {
		panic(fmt.Sprintf("model.RoPE.Apply: %d inverse frequencies for head_dim %d", len(r.InvFreq), hd))
	}
	if rows <= 0 {
		return
	}
	t := r.table(pos0, rows)
	for row := 0; row < rows; row++ {
		off := (pos0 + row - t.pos0) * hd
		cos := t.cos[off : off+hd]
		sin := t.sin[off : off+hd]
		for hh := 0; hh < heads; hh++ {
			v := x[(row*heads+hh)*hd : (row*heads+hh+1)*hd]
			for i := 0; i < h; i++ {
				a, b := v[i], v[i+h]
				// The conversions keep the compiler from fusing.
				v[i] = float32(a*cos[i]) - float32(b*sin[i])
				v[i+h] = float32(b*cos[i+h]) + float32(a*sin[i+h])
			}
		}
	}
}

// Softmax replaces x by softmax(x) in float32, rounding as torch's
// vectorized CPU softmax over a row of len(x) elements (see SoftmaxPrefix).
func Softmax(x []float32) { SoftmaxPrefix(x, len(x)) }

// SoftmaxPrefix computes the softmax of a row of n ≥ len(x) elements whose
// first len(x) are x and whose others are masked (probability exactly 0,
// as with HF's additive mask of float32 min), writing the first len(x)
// probabilities to x. It rounds as torch's AVX2 softmax over the whole row:
// e_i = exp(x_i − max) with SLEEF's expf, the sum accumulated in 8 lanes
// (element i in lane i mod 8, masked elements adding 0) and reduced by
// 128-, 64- and 32-bit shuffles (rows shorter than 8: in order), then
// p_i = e_i · float32(1/sum). An empty x is left alone.
func SoftmaxPrefix(x []float32, n int) {
	if len(x) == 0 {
		return
	}
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	var lanes [8]float32
	for i, v := range x {
		e := expf(v - m)
		x[i] = e
		lanes[i%8] += e
	}
	var sum float32
	if n < 8 {
		for _, v := range lanes[:len(x)] {
			sum += v
		}
	} else {
		sum = shuffleSum(lanes)
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}

// shuffleSum adds 8 lanes as torch's AVX2 vec_reduce_all does: lane i plus
// lane i+4, then plus the lane 2 apart, then plus the neighbouring lane.
func shuffleSum(v [8]float32) float32 {
	a := [4]float32{v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]}
	return (a[0] + a[2]) + (a[1] + a[3])
}

// sumF32 is torch's float32 CPU sum of a contiguous row (SumKernel's
// vectorized inner sum on AVX2): 8-lane vectors taken four at a time into
// four accumulators, folded in a cascade of up to four levels (2^p vector
// groups per level, p = max(4, ⌈log2 groups⌉/4)), the leftover vectors
// added to the first accumulator, the four accumulators added in order,
// and finally the leftover scalars and then lanes 0..7 added in order.
func sumF32(x []float32) float32 {
	const L = 8
	nv := len(x) / L
	groups := nv / 4
	var acc [4][4][L]float32 // [level][accumulator][lane]
	power := max(4, ceilLog2(groups)/4)
	step := 1 << power
	mask := step - 1
	addVec := func(dst *[L]float32, v int) {
		for l, e := range x[v*L : v*L+L] {
			dst[l] += e
		}
	}
	i := 0
	for i+step <= groups {
		for j := 0; j < step; j, i = j+1, i+1 {
			for k := range 4 {
				addVec(&acc[0][k], i*4+k)
			}
		}
		for j := 1; j < 4; j++ {
			for k := range 4 {
				for l := range L {
					acc[j][k][l] += acc[j-1][k][l]
					acc[j-1][k][l] = 0
				}
			}
			if i&(mask<<(j*power)) != 0 {
				break
			}
		}
	}
	for ; i < groups; i++ {
		for k := range 4 {
			addVec(&acc[0][k], i*4+k)
		}
	}
	for j := 1; j < 4; j++ {
		for k := range 4 {
			for l := range L {
				acc[0][k][l] += acc[j][k][l]
			}
		}
	}
	p := &acc[0]
	for v := groups * 4; v < nv; v++ {
		addVec(&p[0], v)
	}
	for k := 1; k < 4; k++ {
		for l := range L {
			p[0][l] += p[k][l]
		}
	}
	var s float32
	for _, e := range x[nv*L:] {
		s += e
	}
	for _, e := range p[0] {
		s += e
	}
	return s
}

// ceilLog2 is torch's CeilLog2: 1 for x ≤ 2, else ⌈log2 x⌉.
func ceilLog2(x int) int {
	if x <= 2 {
		return 1
	}
	return bits.Len64(uint64(x - 1))
}

// SiLU returns x·σ(x) = x / (1 + exp(−x)) in float32 with SLEEF's expf, as
// torch's vectorized silu.
func SiLU(x float32) float32 {
	return x / (1 + expf(-x))
}

// expf is SLEEF's expf_u10 (≤ 1 ulp), the exp of torch's AVX2 Vectorized
// float, step by step in float32 with fused multiply-adds: q = rint(x/ln2),
// s = x − q·ln2 in two parts, a degree-6 polynomial, and a scaling by 2^q
// in two halves. Below −104 it is 0 and above 104 +Inf, as SLEEF's.
// Every fused step's result is a normal float32 or exact (a subnormal x
// gives q = 0, s = x and s·s = 0), which fma32 requires.
func expf(x float32) float32 {
	const (
		log2e = float32(1.442695040888963407359924681001892137426645954152985934135449406931)
		ln2hi = float32(0.693145751953125)
		ln2lo = float32(1.428606765330187045e-06)
	)
	switch {
	case x != x:
		return x
	case x < -104:
		return 0
	case x > 104:
		return float32(math.Inf(1))
	}
	// Adding and subtracting 1.5·2^23 rounds to an integer, ties to even
	// (|x·log2e| < 151 here).
	const shift = 0x1.8p23
	qf := float32(float32(x*log2e)+shift) - shift
	q := int32(qf)
	s := fma32(qf, -ln2hi, x)
	s = fma32(qf, -ln2lo, s)
	u := float32(0.000198527617612853646278381)
	for _, c := range expfPoly {
		// u = fma32(u, s, c), written out: this loop is the hot path.
		p := float64(float64(u) * float64(s))
		t := float64(p + float64(c))
		if math.Float64bits(t)&(1<<29-1) != 1<<28 {
			u = float32(t)
		} else {
			u = fma32Halfway(p, float64(c), t)
		}
	}
	u = 1 + fma32(float32(s*s), u, s)
	h := q >> 1
	return u * pow2f(h) * pow2f(q-h)
}

// expfPoly are the coefficients of SLEEF's expf polynomial after the
// leading 0.000198527617612853646278381, highest degree first.
var expfPoly = [...]float32{0.00139304355252534151077271, 0.00833336077630519866943359, 0.0416664853692054748535156, 0.166666671633720397949219, 0.5}

// pow2f is 2^e for −126 ≤ e ≤ 127.
func pow2f(e int32) float32 { return math.Float32frombits(uint32(e+127) << 23) }

// fma32 is the correctly rounded float32 a·b + c (what VFMADD computes).
// The product is exact in float64, so the float64 sum is the exact result
// rounded once; rounding that to float32 is correct unless it landed
// exactly halfway between two float32 values (low 29 mantissa bits
// 1000…0) while the exact result was not. Then the sum's rounding error
// (TwoSum) says which side the exact result is on, and nudging the sum one
// float64 ulp that way makes the float32 rounding right. Results below the
// float32 normal range (2^-126), whose halfway points have other bit
// patterns, are only guaranteed when exact; expf's are (see there).
func fma32(a, b, c float32) float32 {
	// The conversions keep the compiler from fusing these operations.
	p := float64(float64(a) * float64(b))
	s := float64(p + float64(c))
	if math.Float64bits(s)&(1<<29-1) != 1<<28 {
		return float32(s)
	}
	return fma32Halfway(p, float64(c), s)
}

// fma32Halfway rounds the exact p + c (whose float64 rounding is s) to
// float32 when s may be a float32 halfway point.
func fma32Halfway(p, c, s float64) float32 {
	bv := float64(s - p)
	e := float64(p-float64(s-bv)) + float64(c-bv)
	switch {
	case e > 0:
		s = math.Nextafter(s, math.Inf(1))
	case e < 0:
		s = math.Nextafter(s, math.Inf(-1))
	}
	return float32(s)
}
