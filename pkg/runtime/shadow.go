package runtime

import "math"

// shadowLinear is CPULinearINT8Shadow::execute, the ARM path (spec §3.4):
// it corrects the down_proj output of a shadow layer for the input values
// that int8 clipped and for the saturated output codes.
//
//	x: float32 activation before down_proj quantization [rows][In]
//	y: int8 down_proj output codes [rows][Out]
//	z: float32 layer output after the residual add [rows][Out]
//
// It returns the corrected layer output (a new slice).
func shadowLinear(l *QLinear, x []float32, y []int16, z []float32, rows int) []float32 {
	in, outN := l.In, l.Out
	sIn := Step8(l.InRange)             // float(input_scale / 127.0), double division
	sW := l.WScale                      // weight.scale
	sOut := float32(l.OutRange / 127.0) // output_scale / 127.0f, float division
	out := append([]float32(nil), z[:rows*outN]...)
	if !l.ClipIn {
		for j := 0; j < rows; j++ {
			for k := 0; k < in; k++ {
				r := float32(math.Round(float64(x[j*in+k] / sIn)))
				if r > 127 || r < -128 {
					o := float32(float32(r*sIn) * sW)
					c := float32(float32(min(max(r, -128), 127)*sIn) * sW)
					orow := out[j*outN : (j+1)*outN]
					for w := range orow {
						wf := float32(l.W[w*in+k])
						orow[w] = (float32(o*wf) - float32(c*wf)) + orow[w]
					}
				}
			}
		}
	}
	if !l.ClipOut {
		wf := make([]float32, in)
		for j := 0; j < rows; j++ {
			for k := 0; k < outN; k++ {
				c := y[j*outN+k]
				if c > -128 && c < 127 {
					continue
				}
				for i := range wf {
					wf[i] = float32(l.W[k*in+i]) * sW
				}
				sum := vecDotF32NEON(x[j*in:(j+1)*in], wf)
				rq := float32(math.Round(float64(sum / sOut)))
				out[j*outN+k] = (z[j*outN+k] - float32(float32(c)*sOut)) + float32(rq*sOut)
			}
		}
	}
	return out
}

// vecDotF32NEON is ggml's vec_dot_f32 on NEON (spec §5.4): 4 float32x4
// FMA accumulators over 16-element steps, reduced acc0+=acc2, acc1+=acc3,
// acc0+=acc1, then vaddvq_f32, then the leftovers in float32.
func vecDotF32NEON(x, y []float32) float32 {
	n := len(x)
	np := n &^ 15
	var acc [16]float32
	for i := 0; i < np; i += 16 {
		for l := range 16 {
			acc[l] = fma32(acc[l], x[i+l], y[i+l])
		}
	}
	for l := range 4 {
		a0 := acc[l] + acc[8+l]
		a1 := acc[4+l] + acc[12+l]
		acc[l] = a0 + a1
	}
	sumf := (acc[0] + acc[1]) + (acc[2] + acc[3])
	for i := np; i < n; i++ {
		sumf += float32(x[i] * y[i])
	}
	return sumf
}
