package runtime

import (
	"fmt"
	"math"
)

// Rounding selects which HTP op-package numerics the emulation uses
// (spec §2.13): the reference kernels (-DREFERENCE_OP, the canonical
// emulation) or the HVX kernels the Hexagon NPU actually runs.
type Rounding int

const (
	// RoundRef is the op package's reference implementation: quantize with
	// lroundf(x/s) (half away from zero), dequantize in float32.
	RoundRef Rounding = iota
	// RoundHVX is the device kernels: quantize with floor(x·(1/s)+0.5)
	// (half up), int16 codes and fp16 scales rounded to binary16 in
	// dequantization (spec §2.1, §2.3, §2.4).
	RoundHVX
)

// String returns the flag spelling ("ref" or "hvx").
func (r Rounding) String() string {
	if r == RoundHVX {
		return "hvx"
	}
	return "ref"
}

// ParseRounding parses the --htp-rounding flag.
func ParseRounding(s string) (Rounding, error) {
	switch s {
	case "ref", "":
		return RoundRef, nil
	case "hvx":
		return RoundHVX, nil
	}
	return 0, fmt.Errorf("--htp-rounding %q: want ref or hvx", s)
}

// Step8 is the int8 step of a stored range: float32(float64(r)/127)
// (C++ `float / (pow(2,7)-1)`, a double division; spec conventions).
func Step8(r float32) float32 { return float32(float64(r) / 127.0) }

// Step16 is the int16 step of a stored range: float32(float64(r)/32767).
func Step16(r float32) float32 { return float32(float64(r) / 32767.0) }

// StepBits is Step8 or Step16 by bit width.
func StepBits(r float32, bits int) float32 {
	if bits == 16 {
		return Step16(r)
	}
	return Step8(r)
}

// qRange is the signed range of a bit width (8 or 16).
func qRange(bits int) (lo, hi int32) {
	if bits == 16 {
		return -32768, 32767
	}
	return -128, 127
}

func clampCode(v float64, bits int) int16 {
	lo, hi := qRange(bits)
	if v < float64(lo) {
		return int16(lo)
	}
	if v > float64(hi) {
		return int16(hi)
	}
	return int16(v)
}

// QuantizeCPU is mllm's CPU Quantize op (quantize_row_i8 / _i16, ARM NEON,
// spec §2.1): id = 1/s in float32, q = clamp(RNE(x·id)). Codes of both
// widths are held in int16.
func QuantizeCPU(dst []int16, x []float32, step float32, bits int) {
	id := float32(1) / step
	for i, v := range x {
		dst[i] = clampCode(math.RoundToEven(float64(float32(v*id))), bits)
	}
}

// QuantizeHTP is the HTP LLaMAQuantize op on float32 input (spec §2.1):
// ref q = clamp(lroundf(x/s)); HVX t = x·(1/s) + 0.5 (float32), clamped to
// the code range, then floored (round half up).
func QuantizeHTP(dst []int16, x []float32, step float32, bits int, mode Rounding) {
	if mode == RoundHVX {
		inv := float32(1) / step
		lo, hi := qRange(bits)
		for i, v := range x {
			t := float32(float32(v*inv) + 0.5)
			t = min(max(t, float32(lo)), float32(hi))
			dst[i] = int16(math.Floor(float64(t)))
		}
		return
	}
	for i, v := range x {
		dst[i] = clampCode(math.Round(float64(v/step)), bits)
	}
}

// QuantizeHTPF16 is LLaMAQuantize on fp16 input (the down_proj input of
// non-shadow layers; x holds binary16 values). ref: as QuantizeHTP. HVX
// (qhmath_hvx_quantize_ui16_ahf): 1/s, 0.5 and the clamp bounds are
// binary16; t = fp16(fp16(x·fp16(1/s)) + 0.5), clamped to
// [fp16(lo), fp16(hi)] (32767 becomes 32768), floored and saturated to
// the code range (the hf→int16 conversion is assumed to saturate).
func QuantizeHTPF16(dst []int16, x []float32, step float32, bits int, mode Rounding) {
	if mode != RoundHVX {
		QuantizeHTP(dst, x, step, bits, mode)
		return
	}
	inv := RoundF16(float32(1) / step)
	lo, hi := qRange(bits)
	flo, fhi := RoundF16(float32(lo)), RoundF16(float32(hi))
	for i, v := range x {
		t := RoundF16(RoundF16(v*inv) + 0.5)
		t = min(max(t, flo), fhi)
		dst[i] = clampCode(math.Floor(float64(t)), bits)
	}
}

// Dequantize is LLaMADequantize (spec §2.3): y = q·s, as float32 or, when
// f16, rounded to binary16. ref: float32 product (then fp16). HVX: int16
// codes are first rounded to binary16; fp16 outputs use the fp16 scale,
// fp16(fp16(q)·fp16(s)).
func Dequantize(dst []float32, q []int16, step float32, bits int, f16 bool, mode Rounding) {
	if mode == RoundHVX {
		s16 := RoundF16(step)
		for i, c := range q {
			qf := float32(c)
			if bits == 16 {
				qf = RoundF16(qf)
			}
			if f16 {
				dst[i] = RoundF16(qf * s16)
			} else {
				dst[i] = qf * step
			}
		}
		return
	}
	for i, c := range q {
		y := float32(c) * step
		if f16 {
			y = RoundF16(y)
		}
		dst[i] = y
	}
}

// DequantizeAdd is LLaMADequantizeAdd for int16 q/k/v codes (spec §2.4):
// y[r][c] = q·s + bias[c], float32 (q) or binary16 (k, v). ref: float32
// product and sum, then fp16. HVX: fp16(q); fp32 out: fp16(q)·s + bias;
// fp16 out: fp16(fp16(fp16(q)·fp16(s)) + fp16(bias)).
func DequantizeAdd(dst []float32, q []int16, step float32, bias []float32, f16 bool, mode Rounding) {
	n := len(bias)
	if mode == RoundHVX {
		s16 := RoundF16(step)
		for i, c := range q {
			qf := RoundF16(float32(c))
			b := bias[i%n]
			if f16 {
				dst[i] = RoundF16(RoundF16(qf*s16) + RoundF16(b))
			} else {
				dst[i] = float32(qf*step) + b
			}
		}
		return
	}
	for i, c := range q {
		y := float32(float32(c)*step) + bias[i%n]
		if f16 {
			y = RoundF16(y)
		}
		dst[i] = y
	}
}
