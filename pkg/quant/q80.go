package quant

import "math"

// QuantizeQ8_0 quantizes x (a multiple of QK8_0 values) into Q8_0 blocks:
// d = amax/127 stored as fp16, q = roundeven(x·(127/amax)) computed with
// the float32 amax (not the fp16 d). dst must be len(x)/QK8_0*BlockQ8_0Bytes
// bytes.
//
// mllm's quantize_row_q8_0 has three code paths that differ in the last
// bit: the scalar reference (x·(1/d), roundf), NEON (x·(1/d), ties to even)
// and AVX2 (x·(127/amax), ties to even). mllm's own quantize tool, built for
// x86-64, produced the reference Q8_0 files with the AVX2 path, so that is
// the one reproduced here (the other two disagree with those files in a
// few bytes per million).
func QuantizeQ8_0(dst []byte, x []float32) {
	nb := checkBlocks("QuantizeQ8_0", len(x), QK8_0, len(dst), BlockQ8_0Bytes)
	for i := range nb {
		xb := x[i*QK8_0 : (i+1)*QK8_0]
		y := dst[i*BlockQ8_0Bytes : (i+1)*BlockQ8_0Bytes]
		var amax float32
		for _, v := range xb {
			amax = max(amax, abs32(v))
		}
		putF16(y, amax/127)
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		for j, v := range xb {
			y[2+j] = byte(int8(math.RoundToEven(float64(float32(v * id)))))
		}
	}
}

// DequantizeQ8_0 expands Q8_0 blocks: y = q·d.
func DequantizeQ8_0(dst []float32, src []byte) {
	nb := checkBlocks("DequantizeQ8_0", len(dst), QK8_0, len(src), BlockQ8_0Bytes)
	for i := range nb {
		b := src[i*BlockQ8_0Bytes : (i+1)*BlockQ8_0Bytes]
		d := getF16(b)
		for j := range QK8_0 {
			dst[i*QK8_0+j] = float32(int8(b[2+j])) * d
		}
	}
}
