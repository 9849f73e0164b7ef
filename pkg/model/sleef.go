package model

import "math"

// This file reproduces, bit for bit, the float32 sine, cosine and power that
// torch 1.13's CPU kernels compute on x86-64 with AVX2: SLEEF 3.5.1's
// Sleef_sinf8_u10 / Sleef_cosf8_u10 / Sleef_powf8_u10 (AVX2+FMA build;
// xsinf_u1, xcosf_u1 and xpowf in sleefsimdsp.c, as in Debian's
// libsleef.so.3). The code below is written from those algorithms'
// description; every fused multiply-add of the AVX2 build is a correctly
// rounded float32 fma (fmaf), every other operation a plain float32 one.
// For ±Inf and NaN arguments sin and cos return a NaN, not SLEEF's
// particular NaN bits.
//
// SLEEF decides per 8-lane vector how to reduce the argument: if all eight
// lanes satisfy |d| < 125 it uses a three-constant Cody–Waite reduction,
// otherwise all eight lanes (small ones too) go through rempif, a
// Payne–Hanek reduction with the table sleefRempitabsp. Results of the two
// paths differ in the last bit for some arguments, so which angles share a
// vector matters: sleefSinCos takes the vectors as torch forms them.
//
// How torch 1.13 applies it (checked on this build): Tensor.sin/cos on a
// contiguous float32 tensor of n elements run vml::vsin/vcos over parallel
// chunks (at::parallel_for, grain 2048: min(threads, ⌈n/2048⌉) chunks of
// ⌈n/chunks⌉ elements); each chunk is mapped 8 elements at a time from its
// first element, and a last partial vector is padded with zeros (which
// never change the branch). With one thread, or whenever the chunk length is
// a multiple of 8, the vectors are the aligned 8-element groups of the
// flattened tensor.

// Constants of SLEEF's single-precision trigonometry (misc.h, sleefsimdsp.c).
const (
	sleefPiA2 float32 = 3.1414794921875
	sleefPiB2 float32 = 0.00011315941810607910156
	sleefPiC2 float32 = 1.9841872589410058936e-09
	// sleefTrigRangeMax2 is TRIGRANGEMAX2f: the Cody–Waite path's bound.
	sleefTrigRangeMax2 float32 = 125
	// sleef1ByPi is (float)M_1_PI, the double 1/π rounded to float32.
	sleef1ByPi float32 = 0x1.45f306p-2
	// π/2 as a float32 pair (3.1415927410125732422f·0.5 and
	// -8.7422776573475857731e-08f·0.5, negated as SLEEF writes them).
	sleefNegHalfPiHi float32 = -0x1.921fb6p+0
	sleefNegHalfPiLo float32 = 0x1.777a5cp-25
	// 2π as a float32 pair, for rempif's final product.
	sleefTwoPiHi float32 = 3.1415927410125732422 * 2
	sleefTwoPiLo float32 = -8.7422776573475857731e-08 * 2
)

// Coefficients of the u10 sin/cos polynomial, highest degree first.
const (
	sleefSinC0 float32 = 2.6083159809786593541503e-06
	sleefSinC1 float32 = -0.0001981069071916863322258
	sleefSinC2 float32 = 0.00833307858556509017944336
	sleefSinC3 float32 = -0.166666597127914428710938
)

// sleefSinCos sets sin[i] and cos[i] to torch's float32 sin(ang[i]) and
// cos(ang[i]) when ang starts a vector (see above): lanes are grouped
// ang[0:8], ang[8:16], …, and the last group may be partial.
func sleefSinCos(ang, sin, cos []float32) {
	for i := 0; i < len(ang); i += 8 {
		g := ang[i:min(i+8, len(ang))]
		big := sleefNeedsRempi(g)
		for l, d := range g {
			sin[i+l] = sleefSinfU1(d, big)
			cos[i+l] = sleefCosfU1(d, big)
		}
	}
}

// sleefNeedsRempi reports whether a vector holding the lanes g (the rest
// zero) takes SLEEF's Payne–Hanek path: not every |d| < 125 (NaN included).
func sleefNeedsRempi(g []float32) bool {
	for _, d := range g {
		if !(abs32(d) < sleefTrigRangeMax2) {
			return true
		}
	}
	return false
}

// sleefSinfU1 is one lane of xsinf_u1; big says whether the lane's vector
// takes the rempif path.
func sleefSinfU1(d float32, big bool) float32 {
	var q int32
	var s df32
	if !big {
		u := rintf(float32(d * sleef1ByPi))
		q = int32(u)
		v := fmaf(u, -sleefPiA2, d)
		s = dfAdd2FF(v, float32(u*-sleefPiB2))
		s = dfAddDF(s, float32(u*-sleefPiC2))
	} else {
		x, qi := sleefRempif(d)
		q = qi & 3
		if x.x > 0 {
			q = q + q + 2
		} else {
			q = q + q + 1
		}
		q >>= 2
		if qi&1 == 1 {
			c := df32{mulsign(sleefNegHalfPiHi, x.x), mulsign(sleefNegHalfPiLo, x.x)}
			x = dfAdd2DD(x, c)
		}
		s = dfNormalize(x)
		if isInfOrNaN32(d) {
			s.x = float32(math.NaN())
		}
	}
	u := sleefSinCosPoly(s, q&1 == 1)
	if math.Float32bits(d) == 0x80000000 {
		return d
	}
	return u
}

// sleefCosfU1 is one lane of xcosf_u1; big as for sleefSinfU1.
func sleefCosfU1(d float32, big bool) float32 {
	var q int32
	var s df32
	if !big {
		dq := fmaf(rintf(fmaf(d, sleef1ByPi, -0.5)), 2, 1)
		q = int32(dq)
		s = dfAdd2FF(d, float32(dq*(-sleefPiA2*0.5)))
		s = dfAdd2DF(s, float32(dq*(-sleefPiB2*0.5)))
		s = dfAdd2DF(s, float32(dq*(-sleefPiC2*0.5)))
	} else {
		x, qi := sleefRempif(d)
		q = qi & 3
		if x.x > 0 {
			q = q + q + 8
		} else {
			q = q + q + 7
		}
		q >>= 1
		if qi&1 == 0 {
			y := float32(-1)
			if x.x > 0 {
				y = 0
			}
			c := df32{mulsign(sleefNegHalfPiHi, y), mulsign(sleefNegHalfPiLo, y)}
			x = dfAdd2DD(x, c)
		}
		s = dfNormalize(x)
		if isInfOrNaN32(d) {
			s.x = float32(math.NaN())
		}
	}
	return sleefSinCosPoly(s, q&2 == 0)
}

// sleefSinCosPoly evaluates the u10 polynomial on the reduced argument s
// (a double-float) and negates the result if neg.
func sleefSinCosPoly(s df32, neg bool) float32 {
	t := s
	s = dfSqu(s)
	u := fmaf(sleefSinC0, s.x, sleefSinC1)
	u = fmaf(u, s.x, sleefSinC2)
	x := dfAddFD(1, dfMulDD(dfAddFF(sleefSinC3, float32(u*s.x)), s))
	r := dfMulToF(t, x)
	if neg {
		r = math.Float32frombits(math.Float32bits(r) ^ 0x80000000)
	}
	return r
}

// sleefRempif is SLEEF's rempif: a reduced to r·2π + q·π/2 + whole turns,
// returning r·2π as a double-float (the argument itself when |a| < 0.7
// after scaling) and q. a must not be ±Inf or NaN for a meaningful result.
func sleefRempif(a float32) (df32, int32) {
	ex := int32(math.Float32bits(a)>>23&0xff) - 0x7f - 25
	if ex > 65 {
		// Scale by 2^-64; rows 66 and up of the table are scaled by 2^64.
		a = math.Float32frombits(math.Float32bits(a) - 64<<23)
	}
	if ex < 0 {
		ex = 0
	}
	if ex > int32(len(sleefRempitabsp)/4-1) {
		ex = int32(len(sleefRempitabsp)/4 - 1) // ±Inf and NaN only
	}
	t := sleefRempitabsp[4*ex : 4*ex+4]
	x := dfMulFF(a, t[0])
	var q, qi int32
	x.x, q = rempisubf(x.x)
	x = dfNormalize(x)
	x = dfAdd2DD(x, dfMulFF(a, t[1]))
	x.x, qi = rempisubf(x.x)
	q += qi
	x = dfNormalize(x)
	x = dfAdd2DD(x, dfMulDF(df32{t[2], t[3]}, a))
	x = dfNormalize(x)
	x = dfMulDD(x, df32{sleefTwoPiHi, sleefTwoPiLo})
	if abs32(a) < 0.7 {
		x = df32{a, 0}
	}
	return x, q
}

// rempisubf splits x into x − rint(4x)/4 and the quadrant
// rint(4x) − 4·rint(x) (FULL_FP_ROUNDING variant).
func rempisubf(x float32) (float32, int32) {
	y := rintf(x * 4)
	q := int32(y - rintf(x)*4)
	return x - y*0.25, q
}

// df32 is SLEEF's vfloat2: an unevaluated sum x + y of two float32.
type df32 struct{ x, y float32 }

func dfNormalize(t df32) df32 {
	sx := t.x + t.y
	return df32{sx, (t.x - sx) + t.y}
}

// dfAddFF is dfadd_vf2_vf_vf.
func dfAddFF(x, y float32) df32 {
	rx := x + y
	return df32{rx, (x - rx) + y}
}

// dfAdd2FF is dfadd2_vf2_vf_vf.
func dfAdd2FF(x, y float32) df32 {
	rx := x + y
	v := rx - x
	return df32{rx, (x - (rx - v)) + (y - v)}
}

// dfAddDF is dfadd_vf2_vf2_vf.
func dfAddDF(x df32, y float32) df32 {
	rx := x.x + y
	return df32{rx, ((x.x - rx) + y) + x.y}
}

// dfAdd2DF is dfadd2_vf2_vf2_vf.
func dfAdd2DF(x df32, y float32) df32 {
	rx := x.x + y
	v := rx - x.x
	ry := (x.x - (rx - v)) + (y - v)
	return df32{rx, ry + x.y}
}

// dfAddFD is dfadd_vf2_vf_vf2.
func dfAddFD(x float32, y df32) df32 {
	rx := x + y.x
	return df32{rx, ((x - rx) + y.x) + y.y}
}

// dfAdd2DD is dfadd2_vf2_vf2_vf2.
func dfAdd2DD(x, y df32) df32 {
	rx := x.x + y.x
	v := rx - x.x
	ry := (x.x - (rx - v)) + (y.x - v)
	return df32{rx, ry + (x.y + y.y)}
}

// dfMulFF is dfmul_vf2_vf_vf (FMA).
func dfMulFF(x, y float32) df32 {
	rx := x * y
	return df32{rx, fmaf(x, y, -rx)}
}

// dfMulDF is dfmul_vf2_vf2_vf (FMA).
func dfMulDF(x df32, y float32) df32 {
	rx := x.x * y
	return df32{rx, fmaf(x.y, y, fmaf(x.x, y, -rx))}
}

// dfMulDD is dfmul_vf2_vf2_vf2 (FMA).
func dfMulDD(x, y df32) df32 {
	rx := x.x * y.x
	return df32{rx, fmaf(x.x, y.y, fmaf(x.y, y.x, fmaf(x.x, y.x, -rx)))}
}

// dfMulToF is dfmul_vf_vf2_vf2 (FMA): the product rounded to one float32.
func dfMulToF(x, y df32) float32 {
	return fmaf(x.x, y.x, fmaf(x.y, y.x, float32(x.x*y.y)))
}

// dfSqu is dfsqu_vf2_vf2 (FMA).
func dfSqu(x df32) df32 {
	rx := x.x * x.x
	return df32{rx, fmaf(x.x+x.x, x.y, fmaf(x.x, x.x, -rx))}
}

// fmaf is the correctly rounded float32 a·b + c for every result, normal or
// not (fma32 is for results of at least 2^-126). The product is exact in
// float64, so the float64 sum s is the exact result rounded once; rounding s
// to float32 is then right unless s may be a float32 halfway point (the
// low 29 significand bits 1000…0 for normal results) or the result is
// below 2^-126, which fmafSlow handles.
func fmaf(a, b, c float32) float32 {
	// The conversions keep the compiler from fusing these operations.
	p := float64(float64(a) * float64(b))
	s := float64(p + float64(c))
	if math.Float64bits(s)&(1<<29-1) == 1<<28 || math.Abs(s) < 0x1p-126 {
		return fmafSlow(p, float64(c), s)
	}
	return float32(s)
}

// fmafSlow rounds the exact p + c (whose float64 rounding is s) to float32
// when s is a float32 halfway point or below 2^-126.
func fmafSlow(p, c, s float64) float32 {
	if math.Abs(s) >= 0x1p-126 {
		return fma32Halfway(p, c, s)
	}
	// Below 2^-126 the float32 values are the multiples of 2^-149. s has
	// 29 fraction bits more; the exact sum is s + e (TwoSum), and e only
	// matters when s is exactly halfway between two multiples.
	bv := float64(s - p)
	e := float64(p-float64(s-bv)) + float64(c-bv)
	m := s * 0x1p149
	r := math.RoundToEven(m)
	if d := m - r; (d == 0.5 || d == -0.5) && e != 0 {
		if e > 0 {
			r = math.Ceil(m)
		} else {
			r = math.Floor(m)
		}
	}
	return float32(math.Copysign(r, s) * 0x1p-149)
}

// rintf rounds to the nearest integer, ties to even (ROUNDPS mode 0).
func rintf(x float32) float32 { return float32(math.RoundToEven(float64(x))) }

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ 0x80000000) }

// mulsign is x with its sign flipped when y's sign bit is set.
func mulsign(x, y float32) float32 {
	return math.Float32frombits(math.Float32bits(x) ^ math.Float32bits(y)&0x80000000)
}

func isInfOrNaN32(x float32) bool { return math.Float32bits(x)&0x7f800000 == 0x7f800000 }

// sleefPowf is SLEEF 3.5.1's xpowf (Sleef_powf8_u10, AVX2+FMA), the
// vectorized float32 pow of torch 1.13 (`theta ** t` in HF's inv_freq),
// for a base x > 0 that is finite and normal and a finite exponent y; the
// result is exp(y·log x) in double-float arithmetic. It has no per-vector
// branch, so each lane is independent.
func sleefPowf(x, y float32) float32 {
	if y == 0 || x == 1 {
		return 1
	}
	r := sleefExpkf(dfMulDF(sleefLogkf(x), y))
	if r != r {
		return float32(math.Inf(1))
	}
	return r
}

// sleefLogkf is SLEEF's logkf: log(d) as a double-float, for normal d > 0.
func sleefLogkf(d float32) df32 {
	e := int32(math.Float32bits(d*(1.0/0.75))>>23&0xff) - 0x7f
	m := math.Float32frombits(math.Float32bits(d) - uint32(e)<<23)
	x := dfDiv(dfAdd2FF(-1, m), dfAdd2FF(1, m))
	x2 := dfSqu(x)
	t := fmaf(0.240320354700088500976562, x2.x, 0.285112679004669189453125)
	t = fmaf(t, x2.x, 0.400007992982864379882812)
	c := df32{0.66666662693023681640625, 3.69183861259614332084311e-09}
	s := dfMulDF(df32{0.69314718246459960938, -1.904654323148236017e-09}, float32(e))
	s = dfAddDD(s, df32{x.x * 2, x.y * 2})
	return dfAddDD(s, dfMulDD(dfMulDD(x2, x), dfAdd2DD(dfMulDF(x2, t), c)))
}

// sleefExpkf is SLEEF's expkf: exp of a double-float, rounded to float32.
func sleefExpkf(d df32) float32 {
	const (
		rLn2 float32 = 1.442695040888963407359924681001892137426645954152985934135449406931
		l2U  float32 = 0.693145751953125
		l2L  float32 = 1.428606765330187045e-06
	)
	u := float32((d.x + d.y) * rLn2)
	q := int32(rintf(u)) // CVTPS2DQ: nearest, ties to even
	qf := float32(q)
	s := dfAdd2DF(d, float32(qf*-l2U))
	s = dfAdd2DF(s, float32(qf*-l2L))
	s = dfNormalize(s)
	u = fmaf(0.00136324646882712841033936, s.x, 0.00836596917361021041870117)
	u = fmaf(u, s.x, 0.0416710823774337768554688)
	u = fmaf(u, s.x, 0.166665524244308471679688)
	u = fmaf(u, s.x, 0.499999850988388061523438)
	t := dfAddDD(s, dfMulDF(dfSqu(s), u))
	t = dfAddFD(1, t)
	u = sleefLdexpf(t.x+t.y, q)
	if d.x < -104 {
		return 0
	}
	return u
}

// sleefLdexpf is SLEEF's vldexp_vf_vf_vi2: x·2^q in steps that avoid
// overflowing the exponent field.
func sleefLdexpf(x float32, q int32) float32 {
	m := q >> 31
	m = (((m + q) >> 6) - m) << 4
	q -= m << 2
	m += 0x7f
	if m < 0 {
		m = 0
	}
	if m > 0xff {
		m = 0xff
	}
	u := math.Float32frombits(uint32(m) << 23)
	x = x * u * u * u * u
	return x * math.Float32frombits(uint32(q+0x7f)<<23)
}

// dfAddDD is dfadd_vf2_vf2_vf2 (|x| ≥ |y|).
func dfAddDD(x, y df32) df32 {
	rx := x.x + y.x
	return df32{rx, (((x.x - rx) + y.x) + x.y) + y.y}
}

// dfDiv is dfdiv_vf2_vf2_vf2 (FMA): n/d as a double-float.
func dfDiv(n, d df32) df32 {
	t := 1 / d.x
	qx := n.x * t
	u := fmaf(t, n.x, -qx)
	qy := fmaf(-d.y, t, fmaf(-d.x, t, 1))
	return df32{qx, fmaf(qx, qy, fmaf(n.y, t, u))}
}
