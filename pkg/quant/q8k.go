package quant

import (
	"encoding/binary"
	"math"
)

// QuantizeQ8K quantizes x (a multiple of QK_K values) into Q8_K blocks,
// exactly as quantize_row_q8_K_reference (the runtime's activation format
// for the Q4_K and Q6_K dot products): max is the value of largest
// magnitude (the first on ties); iscale = −128/max; q = min(127,
// nearest_int(iscale·x)); bsums[g] = Σ q[16g..16g+15]; d = 1/iscale. An
// all-zero block gets d = 0, q = 0 and bsums = 0 (the C code leaves bsums
// unwritten there). dst must be len(x)/QK_K*BlockQ8KBytes bytes.
//
// Layout: float32 d (LE) at 0, int8 qs[256] at 4, int16 bsums[16] (LE) at 260.
func QuantizeQ8K(dst []byte, x []float32) {
	nb := checkBlocks("QuantizeQ8K", len(x), QK_K, len(dst), BlockQ8KBytes)
	le := binary.LittleEndian
	for i := range nb {
		xb := x[i*QK_K : (i+1)*QK_K]
		y := dst[i*BlockQ8KBytes : (i+1)*BlockQ8KBytes]
		var max, amax float32
		for _, v := range xb {
			if ax := abs32(v); ax > amax {
				amax = ax
				max = v
			}
		}
		if amax == 0 {
			clear(y)
			continue
		}
		iscale := -128 / max
		qs := y[4 : 4+QK_K]
		for j, v := range xb {
			qs[j] = byte(int8(min(127, nearestInt(float32(iscale*v)))))
		}
		for g := range QK_K / 16 {
			sum := 0
			for _, q := range qs[16*g : 16*g+16] {
				sum += int(int8(q))
			}
			le.PutUint16(y[4+QK_K+2*g:], uint16(int16(sum)))
		}
		le.PutUint32(y, math.Float32bits(1/iscale))
	}
}

// DequantizeQ8K expands Q8_K blocks: y = d·q.
func DequantizeQ8K(dst []float32, src []byte) {
	nb := checkBlocks("DequantizeQ8K", len(dst), QK_K, len(src), BlockQ8KBytes)
	for i := range nb {
		b := src[i*BlockQ8KBytes : (i+1)*BlockQ8KBytes]
		d := math.Float32frombits(binary.LittleEndian.Uint32(b))
		for j := range QK_K {
			dst[i*QK_K+j] = d * float32(int8(b[4+j]))
		}
	}
}
