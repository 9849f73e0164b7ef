package runtime

import (
	"github.com/qnnkit/qnnkit/pkg/kernels"
	"github.com/qnnkit/qnnkit/pkg/quant"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// expandRows is the number of weight rows an expanded product dequantizes
// at a time (16 rows of 5504 float32 = 352 KiB, within L2). A multiple of
// 4: the float32 kernel computes rows in groups of 4 aligned to the start
// of its call, so every row is computed by the same code as in one call
// over the whole matrix.
const expandRows = 16

// matVecExpand is MatVec for a Q4_K matrix whose rows are not whole
// blocks: out = W·x (+ bias) with W dequantized to float32 expandRows rows
// at a time and multiplied by pkg/kernels, bit-identical to dequantizing
// the whole tensor at load and calling kernels.MatMulT once (the result
// of the one-row product depends only on the row, its index mod 4 and
// whether it is in the last N mod 4 rows, all preserved here).
func (m *DMatrix) matVecExpand(out, x, bias []float32, threads int) {
	units := (m.Rows + expandRows - 1) / expandRows
	parallelFor(units, threads, func(u0, u1 int) {
		scr := make([]float32, (expandRows*m.Cols/quant.QK_K+2)*quant.QK_K)
		for u := u0; u < u1; u++ {
			n0 := u * expandRows
			n1 := min(n0+expandRows, m.Rows)
			e0, e1 := n0*m.Cols, n1*m.Cols
			b0, b1 := e0/quant.QK_K, (e1+quant.QK_K-1)/quant.QK_K
			expandQ4K(scr[:(b1-b0)*quant.QK_K], m.Data[b0*quant.BlockQ4KBytes:b1*quant.BlockQ4KBytes])
			off := e0 - b0*quant.QK_K
			var b []float32
			if bias != nil {
				b = bias[n0:n1]
			}
			kernels.MatMulTThreads(1, out[n0:n1], x, scr[off:off+e1-e0], b, 1, n1-n0, m.Cols)
		}
	})
}

// expandQ4K dequantizes whole Q4_K blocks src into dst exactly as
// quant.DequantizeQ4K (dequantize_row_q4_K: y = float32(d·sc·q) − dmin·m),
// with the AVX2 kernel where available.
func expandQ4K(dst []float32, src []byte) {
	if !expandQ4KArch(dst, src) {
		quant.DequantizeQ4K(dst, src)
	}
}

// q4kBlockScales returns the (d·sc, dmin·m) pairs of the 8 sub-blocks of
// Q4_K block b, as dequantize_row_q4_K computes them in float32.
func q4kBlockScales(dm *[16]float32, b []byte) {
	d := tensor.F16ToF32(uint16(b[0]) | uint16(b[1])<<8)
	dmin := tensor.F16ToF32(uint16(b[2]) | uint16(b[3])<<8)
	sc := b[4:16]
	for j := range 8 {
		s, mn := scaleMinK4(j, sc)
		dm[2*j] = d * float32(s)
		dm[2*j+1] = dmin * float32(mn)
	}
}

// scaleMinK4 is ggml's get_scale_min_k4: the 6-bit scale and min of
// sub-block j from the 12 packed bytes of a Q4_K block.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return (q[j+4] & 0xF) | ((q[j-4] >> 6) << 4), (q[j+4] >> 4) | ((q[j] >> 6) << 4)
}
