package runtime

import "math"

// Binary16 arithmetic. Values that the graph holds in fp16 are kept as
// float32 numbers that are exactly representable in binary16; every fp16
// operation is computed exactly in float64 and rounded once to binary16
// (round to nearest, ties to even), which is what the ARMv8.2 FP16
// instructions and the HTP fp16 ops (assumed IEEE, spec §2.13) do.

// roundF16 rounds x to the nearest binary16 value (ties to even,
// overflow to ±Inf, gradual underflow) and returns it as float32. The
// normal range is rounded in place on the float64 bits (round to 10
// fraction bits, ties to even; a carry moves into the exponent).
func roundF16(x float64) float32 {
	b := math.Float64bits(x)
	if (b>>52)&0x7ff-(1023-14) < 30 { // 2^-14 ≤ |x| < 2^16
		const sh = 52 - 10
		b += (1<<(sh-1) - 1) + (b>>sh)&1
		b &^= 1<<sh - 1
		if (b>>52)&0x7ff == 1023+16 { // rounded up to 2^16: overflow
			return float32(math.Copysign(math.Inf(1), x))
		}
		return float32(math.Float64frombits(b))
	}
	return roundF16Slow(x)
}

// roundF16Slow handles zeros, subnormals, overflow and NaN.
func roundF16Slow(x float64) float32 {
	a := math.Abs(x)
	if !(a < 65520) { // 65520 is the tie between 65504 and 2^16: rounds to even = Inf
		if math.IsNaN(x) {
			return float32(x)
		}
		return float32(math.Copysign(math.Inf(1), x))
	}
	if a < 0x1p-14 { // subnormal range: fixed spacing 2^-24
		return float32(math.RoundToEven(x*0x1p24) * 0x1p-24)
	}
	return roundF16(x)
}

// RoundF16 rounds a float32 to the nearest binary16 value.
func RoundF16(x float32) float32 { return roundF16(float64(x)) }

// fmaF16 is vfmaq_f16 on one lane: fp16(acc + x·y) with a single rounding
// (x·y of two fp16 values is exact in float64, and so is the sum except
// when the operands are more than 2^53 apart, where the result is acc).
func fmaF16(acc, x, y float32) float32 {
	return roundF16(float64(acc) + float64(x)*float64(y))
}

// addF16 is vaddq_f16 on one lane.
func addF16(a, b float32) float32 { return roundF16(float64(a) + float64(b)) }

// VecDotF16 is mllm's vec_dot_fp16 built with ARMv8.2 FP16 vector
// arithmetic (spec §2.9): x and y hold binary16 values. 32 lanes (4
// accumulators × 8) accumulate with fused fp16 multiply-adds over 32-element
// steps; the accumulators are reduced a0+=a2, a1+=a3, a0+=a1 in fp16; the
// 8 lanes are widened to float32, lanes 0-3 and 4-7 are added, then
// vaddvq_f32 = (l0+l1)+(l2+l3); the n%32 leftovers are added in float32
// as x·y.
//
// valid (≤ len(x)) says that x[valid:] and y[valid:] are zero products
// (masked attention probabilities): whole 32-element steps beyond valid
// are skipped, which does not change the result because fma(acc, 0, y) =
// acc for finite y.
func VecDotF16(x, y []float32, valid int) float32 {
	n := len(x)
	np := n &^ 31
	steps := (min(np, valid) + 31) / 32
	var acc [32]float64
	f16Dot32(x, y, steps, &acc)
	var t [4]float32
	for l := range 4 {
		t[l] = float32(acc[l]) + float32(acc[4+l])
	}
	sumf := (t[0] + t[1]) + (t[2] + t[3])
	for i := np; i < n && i < valid; i++ {
		sumf += float32(x[i] * y[i])
	}
	return sumf
}

// f16Reduce is the fp16 reduction of the 32 accumulator lanes (4 × 8):
// a0 += a2, a1 += a3, a0 += a1 (vaddq_f16), leaving the result in lanes 0-7.
func f16Reduce(acc *[32]float64) {
	for l := range 8 {
		acc[l] = float64(addF16(float32(acc[l]), float32(acc[16+l])))
		acc[8+l] = float64(addF16(float32(acc[8+l]), float32(acc[24+l])))
	}
	for l := range 8 {
		acc[l] = float64(addF16(float32(acc[l]), float32(acc[8+l])))
	}
}

// f16FMAStepsGeneric is the portable f16FMASteps.
func f16FMAStepsGeneric(x, y []float32, steps int, acc *[32]float64) {
	for s := 0; s < steps; s++ {
		xs := x[32*s : 32*s+32 : 32*s+32]
		ys := y[32*s : 32*s+32 : 32*s+32]
		for l := range 32 {
			acc[l] = float64(fmaF16(float32(acc[l]), xs[l], ys[l]))
		}
	}
}

// sigmoid64 is the logistic function in float64 (the closed QNN Sigmoid
// on fp16 is emulated as the correctly rounded fp16 σ(x)).
func sigmoid64(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// SiLUF16 is SiLU_Full_Precision on fp16 (spec §2.7): native Sigmoid on
// fp16 followed by LLaMAMul, fp16(fp16(σ(x))·x).
func SiLUF16(x float32) float32 {
	s := roundF16(sigmoid64(float64(x)))
	return roundF16(float64(s) * float64(x))
}

// MulF16 is LLaMAMul on fp16 operands: fp16(a·b).
func MulF16(a, b float32) float32 { return roundF16(float64(a) * float64(b)) }
