package model

import (
	"fmt"
	"math"
)

// RMSNorm writes HF's Qwen2/Llama RMSNorm of rows rows of x (each of
// len(weight) elements) to dst, which may alias x:
//
//	var = mean(x²)  (summed in float64, rounded to float32)
//	r   = float32(1 / sqrt(var + float32(eps)))
//	dst = weight · (x · r)  (two float32 multiplies)
//
// This is HF's `weight * (x * rsqrt(x.pow(2).mean(-1) + eps))` in float32;
// the float64 sum differs from torch's float32 reduction by at most a few
// ulps of var.
func RMSNorm(dst, x, weight []float32, rows int, eps float64) {
	d := len(weight)
	if len(x) < rows*d || len(dst) < rows*d {
		panic(fmt.Sprintf("model.RMSNorm: %d rows of %d need %d elements, have x %d, dst %d", rows, d, rows*d, len(x), len(dst)))
	}
	e := float32(eps)
	for r := 0; r < rows; r++ {
		xr := x[r*d : (r+1)*d]
		var ss float64
		for _, v := range xr {
			ss += float64(v) * float64(v)
		}
		v := float32(ss / float64(d))
		inv := float32(1 / math.Sqrt(float64(v+e)))
		dr := dst[r*d : (r+1)*d]
		for j, v := range xr {
			dr[j] = weight[j] * (v * inv)
		}
	}
}

// RoPE is HF's default rotary position embedding in the rotate_half layout:
// for a head vector x of HeadDim elements and h = HeadDim/2,
//
//	y[i]   = x[i]·cos(p·f_i) − x[i+h]·sin(p·f_i)
//	y[i+h] = x[i+h]·cos(p·f_i) + x[i]·sin(p·f_i)      (i < h)
//
// at position p with inverse frequencies f_i = InvFreq[i]. The angle
// p·f_i is a float32 product (as HF's float32 `inv_freq ⊗ positions`).
type RoPE struct {
	HeadDim int
	// InvFreq has HeadDim/2 entries; NewRoPE fills them as HF does.
	InvFreq []float32
}

// NewRoPE computes inv_freq the way HF does in float32:
// 1 / theta^(float32(2i)/float32(headDim)), with the power and the
// reciprocal each rounded to float32. The power here is correctly rounded;
// torch evaluates HF's expression with its vectorized powf (≤ 1 ulp), so an
// occasional entry differs by 1 ulp (1 of 64 for theta 1e6, head_dim 128;
// none for theta 1e4). Set InvFreq directly for another convention (e.g.
// mllm's double-precision pow).
func NewRoPE(theta float64, headDim int) *RoPE {
	h := headDim / 2
	inv := make([]float32, h)
	base := float64(float32(theta))
	for i := range inv {
		ex := float32(2*i) / float32(headDim)
		p := float32(math.Pow(base, float64(ex)))
		inv[i] = 1 / p
	}
	return &RoPE{HeadDim: headDim, InvFreq: inv}
}

// CosSin fills cos and sin (HeadDim/2 entries each) for position pos:
// cos[i] = float32(cos(float32(pos)·InvFreq[i])), likewise sin.
func (r *RoPE) CosSin(pos int, cos, sin []float32) {
	p := float32(pos)
	for i, f := range r.InvFreq {
		t := float64(p * f)
		s, c := math.Sincos(t)
		cos[i], sin[i] = float32(c), float32(s)
	}
}

// Apply rotates x in place: rows rows, each holding heads head vectors of
// HeadDim elements; row r is at position pos0+r.
func (r *RoPE) Apply(x []float32, rows, heads, pos0 int) {
	hd := r.HeadDim
	h := hd / 2
	if len(x) < rows*heads*hd {
		panic(fmt.Sprintf("model.RoPE.Apply: %d rows × %d heads × %d need %d elements, have %d", rows, heads, hd, rows*heads*hd, len(x)))
	}
	cos := make([]float32, h)
	sin := make([]float32, h)
	for row := 0; row < rows; row++ {
		r.CosSin(pos0+row, cos, sin)
		for hh := 0; hh < heads; hh++ {
			v := x[(row*heads+hh)*hd : (row*heads+hh+1)*hd]
			for i := 0; i < h; i++ {
				a, b := v[i], v[i+h]
				v[i] = a*cos[i] - b*sin[i]
				v[i+h] = b*cos[i] + a*sin[i]
			}
		}
	}
}

// Softmax replaces x by softmax(x) in float32: e_i = exp(x_i − max) and
// p_i = e_i / Σe, with the exponentials within 1 ulp of float32(exp) and
// the sum accumulated in float64. An empty x is left alone.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	var sum float64
	for i, v := range x {
		e := exp32(v - m)
		x[i] = e
		sum += float64(e)
	}
	inv := 1 / sum
	for i, v := range x {
		x[i] = float32(float64(v) * inv)
	}
}

// SiLU returns x·σ(x) = x / (1 + exp(−x)) in float32, with exp within
// 1 ulp of float32(exp(−x)).
func SiLU(x float32) float32 {
	return x / (1 + exp32(-x))
}

// exp32 is float32(exp(x)) for float32 x, within 1 ulp of the correctly
// rounded value: x = (32m + j)·ln2/32 + r with |r| ≤ ln2/64, exp(x) =
// 2^m · 2^(j/32) · p(r) with a degree-4 Taylor polynomial, all in float64
// (relative error before the final rounding < 2e-12). Arguments outside the
// normal float32 range go to math.Exp.
func exp32(x float32) float32 {
	if !(x > -87 && x < 88) { // also NaN
		return float32(math.Exp(float64(x)))
	}
	const (
		inv   = 32 / math.Ln2
		ln2hi = 6.93147180369123816490e-01 / 32
		ln2lo = 1.90821492927058770002e-10 / 32
		shift = 1.5 * (1 << 52) // adding and subtracting rounds to an integer
	)
	xf := float64(x)
	kf := (xf*inv + shift) - shift
	k := int64(kf)
	r := xf - kf*ln2hi - kf*ln2lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24))))
	return float32(p * exp2Frac[k&31] * math.Float64frombits(uint64((k>>5)+1023)<<52))
}

// exp2Frac[j] = 2^(j/32); read-only.
var exp2Frac = func() (t [32]float64) {
	for j := range t {
		t[j] = math.Exp2(float64(j) / 32)
	}
	return t
}()
