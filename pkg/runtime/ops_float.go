package runtime

import "math"

// RMSNormKind selects one of mllm's RMSNorm implementations (spec §2.6).
type RMSNormKind int

const (
	// NormCPU is CPURMSNorm: Σx² in float64 in index order,
	// mean = float32(Σ/D), r = 1/sqrtf(mean + eps), y = (x·r)·w.
	NormCPU RMSNormKind = iota
	// NormHTPRef is the HTP RMSNorm reference kernel: Σx² in float32 in
	// index order, y = (x·w) / sqrtf(Σ/D + 1e-6).
	NormHTPRef
	// NormHTPHVX is the HVX kernel: 32 lane partial sums of x² (lane l
	// takes elements l, l+32, ...), reduced by halving (l += l+16, +8, +4,
	// +2, +1), inv = 1/sqrtf(Σ/D + 1e-6), y = (x·w)·inv.
	NormHTPHVX
)

// htpNormKind is the HTP RMSNorm variant of a rounding mode.
func htpNormKind(m Rounding) RMSNormKind {
	if m == RoundHVX {
		return NormHTPHVX
	}
	return NormHTPRef
}

// sqrtf is a correctly rounded float32 square root.
func sqrtf(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// RMSNorm normalizes rows rows of x (D = len(w) each) into dst (which may
// alias x). eps is used by NormCPU; the HTP kernels hard-code 1e-6.
func RMSNorm(kind RMSNormKind, dst, x, w []float32, rows int, eps float32) {
	d := len(w)
	fd := float32(d)
	for r := 0; r < rows; r++ {
		xr := x[r*d : (r+1)*d]
		dr := dst[r*d : (r+1)*d]
		switch kind {
		case NormCPU:
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			mean := float32(ss / float64(d))
			inv := float32(1) / sqrtf(mean+eps)
			for j, v := range xr {
				dr[j] = float32(v*inv) * w[j]
			}
		case NormHTPRef:
			var ss float32
			for _, v := range xr {
				ss += float32(v * v)
			}
			den := sqrtf(ss/fd + 1e-6)
			for j, v := range xr {
				dr[j] = float32(v*w[j]) / den
			}
		case NormHTPHVX:
			var lanes [32]float32
			for j, v := range xr {
				lanes[j%32] += float32(v * v)
			}
			for h := 16; h >= 1; h /= 2 {
				for l := 0; l < h; l++ {
					lanes[l] += lanes[l+h]
				}
			}
			inv := float32(1) / sqrtf(lanes[0]/fd+1e-6)
			for j, v := range xr {
				dr[j] = float32(v*w[j]) * inv
			}
		}
	}
}

// RoPETable holds CPURoPE's HFHUBROPE sin/cos tables (spec §2.8):
// theta[i] = float32(1/pow(double(base), 2i/dim)); t = float32(pos)·theta[i]
// (float32 product); sin = sinf(t), cos = cosf(t) (Go's float64 sin/cos
// rounded to float32, i.e. correctly rounded in practice).
type RoPETable struct {
	HeadDim int
	theta   []float32
}

// NewRoPETable builds the theta table for base (the model's rope_theta).
func NewRoPETable(base float64, headDim int) *RoPETable {
	h := headDim / 2
	t := &RoPETable{HeadDim: headDim, theta: make([]float32, h)}
	b := float64(float32(base))
	for i := range t.theta {
		t.theta[i] = float32(1.0 / math.Pow(b, 2.0*float64(i)/float64(headDim)))
	}
	return t
}

// cosSin fills cos/sin for one position.
func (t *RoPETable) cosSin(pos int, cos, sin []float32) {
	p := float32(pos % 32768) // h_cnt_ wraps at 32768
	for i, th := range t.theta {
		a := float64(p * th)
		cos[i] = float32(math.Cos(a))
		sin[i] = float32(math.Sin(a))
	}
}

// Apply rotates rows rows of heads head vectors in place (rotate-half, in
// float32: y[d] = x[d]·c − x[d+h]·s, y[d+h] = x[d]·s + x[d+h]·c); row r is
// at position pos0+r. When f16 is set the results are rounded to binary16
// (k, whose output buffer is the fp16 cache).
func (t *RoPETable) Apply(x []float32, rows, heads, pos0 int, f16 bool) {
	hd := t.HeadDim
	h := hd / 2
	cos := make([]float32, h)
	sin := make([]float32, h)
	for r := 0; r < rows; r++ {
		t.cosSin(pos0+r, cos, sin)
		for hh := 0; hh < heads; hh++ {
			v := x[(r*heads+hh)*hd : (r*heads+hh+1)*hd]
			for d := 0; d < h; d++ {
				a, b := v[d], v[d+h]
				y0 := float32(a*cos[d]) - float32(b*sin[d])
				y1 := float32(a*sin[d]) + float32(b*cos[d])
				if f16 {
					y0, y1 = RoundF16(y0), RoundF16(y1)
				}
				v[d], v[d+h] = y0, y1
			}
		}
	}
}

// fma32 is a single-rounding float32 a + b·c (vfmaq_f32), computed with a
// float64 FMA and one conversion (double rounding can differ from a true
// float32 FMA only in rare exact-tie cases).
func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(b), float64(c), float64(a)))
}

// fms32 is vfmsq_f32: a − b·c with a single rounding.
func fms32(a, b, c float32) float32 {
	return float32(math.FMA(-float64(b), float64(c), float64(a)))
}

// VExpf is mllm_v_expf (ARM NEON, ActivationFunction.hpp) on one lane:
// the Arm optimized-routines polynomial exp with a 1.5 ulp error bound.
func VExpf(x float32) float32 {
	const r = 0x1.8p23
	z := fma32(r, x, 0x1.715476p+0)
	n := z - r
	b := fms32(fms32(x, n, 0x1.62e4p-1), n, 0x1.7f7d1cp-20)
	e := math.Float32bits(z) << 23
	k := math.Float32frombits(e + math.Float32bits(1))
	an := float32(math.Abs(float64(n)))
	u := b * b
	j := fma32(float32(0x1.ffffecp-1*b),
		fma32(fma32(0x1.fffdb6p-2, 0x1.555e66p-3, b), fma32(0x1.573e2ep-5, 0x1.0e4020p-7, b), u), u)
	if !(an > 126) {
		return fma32(k, j, k)
	}
	var d uint32
	if n <= 0 {
		d = 0x82000000
	}
	s1 := math.Float32frombits(d + 0x7f000000)
	s2 := math.Float32frombits(e - d)
	if an > 192 {
		return s1 * s1
	}
	return fma32(s2, s2, j) * s1
}

// expf is libm's expf (correctly rounded).
func expf(x float32) float32 { return float32(math.Exp(float64(x))) }

// SoftmaxMLLM is CPUSoftMax over the first n entries of x into dst (spec
// §2.9 step 4): max, e = v_expf(x−max) in groups of 4 with
// sum += (e0+e1)+(e2+e3), tail with expf, then p = e·float32(1.0/sum)
// (double division). dst[n:] is left untouched.
func SoftmaxMLLM(dst, x []float32, n int) {
	mx := float32(math.Inf(-1))
	for j := 0; j < n; j++ {
		if x[j] > mx {
			mx = x[j]
		}
	}
	var sum float32
	i := 0
	for ; i+3 < n; i += 4 {
		e0, e1 := VExpf(x[i]-mx), VExpf(x[i+1]-mx)
		e2, e3 := VExpf(x[i+2]-mx), VExpf(x[i+3]-mx)
		dst[i], dst[i+1], dst[i+2], dst[i+3] = e0, e1, e2, e3
		sum += (e0 + e1) + (e2 + e3)
	}
	for ; i < n; i++ {
		v := expf(x[i] - mx)
		sum += v
		dst[i] = v
	}
	inv := float32(1.0 / float64(sum))
	for j := 0; j < n; j++ {
		dst[j] *= inv
	}
}
