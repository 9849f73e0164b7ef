package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/qnnkit/qnnkit/pkg/kernels"
)

// inv127 is float32(1/127) (bits 0x3C010204): PyTorch's CUDA kernel for
// `tensor.div_(127)` multiplies by the reciprocal of the CPU scalar
// (toolchain spec §4.2).
const inv127 = float32(1.0 / 127)

// minAbsMax is float32(1e-5), the clamp_(min=1e-5) of export_qnn_model.py.
const minAbsMax = float32(1e-5)

// Int8Scale returns the per-tensor scale for absolute maximum amax, as
// export_qnn_model.py computes it on CUDA: max(amax, 1e-5)·float32(1/127)
// in float32, or with trueDiv the IEEE quotient max(amax, 1e-5)/127 (the
// CPU semantics; ≠ the CUDA result in about 4.4 % of cases).
func Int8Scale(amax float32, trueDiv bool) float32 {
	amax = max(amax, minAbsMax)
	if trueDiv {
		return amax / 127
	}
	return float32(amax * inv127)
}

// AbsMax returns max |w_i|, or an error naming the first NaN or Inf. It
// uses all cores for a long w.
//
// For non-negative floats the IEEE order is the order of their bit
// patterns, so the maximum is taken over the bits with the sign cleared;
// a NaN or Inf has the largest patterns (exponent all ones) and is looked
// for only when the maximum is one.
func AbsMax(w []float32) (float32, error) {
	var mu sync.Mutex
	var m uint32
	kernels.ParallelRanges(len(w), 1<<18, func(lo, hi int) {
		x := absBitsMax(w[lo:hi])
		mu.Lock()
		m = max(m, x)
		mu.Unlock()
	})
	if m >= expAllOnes {
		for i, v := range w {
			if math.Float32bits(v)&^signBit >= expAllOnes {
				return 0, fmt.Errorf("element %d is %v (NaN and Inf cannot be quantized)", i, v)
			}
		}
	}
	return math.Float32frombits(m), nil
}

const (
	signBit    = 1 << 31
	expAllOnes = 0x7f800000 // the bits of +Inf; anything above is a NaN
)

// absBitsMax is the maximum of w's bit patterns with the sign cleared.
func absBitsMax(w []float32) uint32 {
	var m0, m1, m2, m3 uint32
	i := 0
	for ; i+4 <= len(w); i += 4 {
		v := w[i : i+4 : i+4]
		m0 = max(m0, math.Float32bits(v[0])&^signBit)
		m1 = max(m1, math.Float32bits(v[1])&^signBit)
		m2 = max(m2, math.Float32bits(v[2])&^signBit)
		m3 = max(m3, math.Float32bits(v[3])&^signBit)
	}
	for ; i < len(w); i++ {
		m0 = max(m0, math.Float32bits(w[i])&^signBit)
	}
	return max(m0, m1, m2, m3)
}

// quantInt8 is the rounding step: int8(roundHalfEven(float32(w/scale))),
// clamped to [−128, 127] (which never changes a value for a scale made by
// Int8Scale from this tensor's amax: |w/scale| ≤ 127·(1+2⁻²³)). The
// quotient is below 2²² in magnitude, where nearestInt rounds half to even
// exactly.
func quantInt8(w, scale float32) int8 {
	return int8(max(-128, min(127, nearestInt(w/scale))))
}

// QuantizePerTensorInt8 quantizes w with one absmax scale, bit for bit as
// export_qnn_model.py's quantize_weight_per_tensor_absmax on CUDA:
// scale = max(max|w|, 1e-5)·float32(1/127) (trueDiv: /127), and
// q = roundHalfEven(float32(w/scale)). NaN and Inf are rejected.
// q has w's layout ([out][in] for a Linear weight).
func QuantizePerTensorInt8(w []float32, trueDiv bool) (q []int8, scale float32, err error) {
	amax, err := AbsMax(w)
	if err != nil {
		return nil, 0, err
	}
	scale = Int8Scale(amax, trueDiv)
	q = make([]int8, len(w))
	for i, v := range w {
		q[i] = quantInt8(v, scale)
	}
	return q, scale, nil
}

// TransposeInt8 returns the [in][out] row-major bytes of q, an [out][in]
// row-major int8 matrix: the layout of the exported `.weight` (the .pth
// holds q.transpose(-2,-1); converter.py writes it in C order).
func TransposeInt8(q []int8, out, in int) []byte {
	if len(q) != out*in {
		panic(fmt.Sprintf("quant.TransposeInt8: %d values for a [%d][%d] matrix", len(q), out, in))
	}
	t := make([]byte, len(q))
	for o := range out {
		row := q[o*in : (o+1)*in]
		for i, v := range row {
			t[i*out+o] = byte(v)
		}
	}
	return t
}

// QuantizeLinearInt8 quantizes a Linear weight w ([out][in] row-major)
// per tensor and returns it already transposed to [in][out] bytes, the
// form the QNN export stores, with its scale. It uses all cores; the
// result does not depend on their number.
func QuantizeLinearInt8(w []float32, out, in int, trueDiv bool) (qT []byte, scale float32, err error) {
	if len(w) != out*in {
		return nil, 0, fmt.Errorf("%d values for a [%d][%d] weight", len(w), out, in)
	}
	amax, err := AbsMax(w)
	if err != nil {
		return nil, 0, err
	}
	scale = Int8Scale(amax, trueDiv)
	qT = make([]byte, len(w))
	// Workers own disjoint blocks of rows output rows, i.e. column ranges
	// of the [in][out] result. A block's rows are quantized into buf, read
	// and written contiguously, then stored transposed: for each input
	// column, the block's rows bytes go to one stretch of a result row.
	const rows = 64
	kernels.ParallelRanges((out+rows-1)/rows, 1, func(lo, hi int) {
		buf := make([]int8, rows*in)
		for b := lo; b < hi; b++ {
			o0, o1 := b*rows, min(out, (b+1)*rows)
			n := o1 - o0
			quantRow(buf[:n*in], w[o0*in:o1*in], scale)
			transposeBlock(qT, out, o0, unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), n*in), n, in)
		}
	})
	return qT, scale, nil
}

// transposeBlock stores src, n rows of in bytes, transposed into the
// [in][out] matrix dst at columns o0..o0+n: dst[i*out+o0+r] = src[r*in+i].
// Blocks of 8×8 bytes are transposed in registers (three rounds of swaps
// of 4-, 2- and 1-byte groups between uint64 rows); the edges byte by byte.
func transposeBlock(dst []byte, out, o0 int, src []byte, n, in int) {
	le := binary.LittleEndian
	n8, in8 := n&^7, in&^7
	for i0 := 0; i0 < in8; i0 += 8 {
		for r0 := 0; r0 < n8; r0 += 8 {
			var x [8]uint64
			for k := range x {
				x[k] = le.Uint64(src[(r0+k)*in+i0:])
			}
			for k := range 4 {
				t := (x[k]>>32 ^ x[k+4]) & 0x00000000FFFFFFFF
				x[k] ^= t << 32
				x[k+4] ^= t
			}
			for _, k := range [4]int{0, 1, 4, 5} {
				t := (x[k]>>16 ^ x[k+2]) & 0x0000FFFF0000FFFF
				x[k] ^= t << 16
				x[k+2] ^= t
			}
			for k := 0; k < 8; k += 2 {
				t := (x[k]>>8 ^ x[k+1]) & 0x00FF00FF00FF00FF
				x[k] ^= t << 8
				x[k+1] ^= t
			}
			for j, v := range x {
				le.PutUint64(dst[(i0+j)*out+o0+r0:], v)
			}
		}
		for r := n8; r < n; r++ {
			for i := i0; i < i0+8; i++ {
				dst[i*out+o0+r] = src[r*in+i]
			}
		}
	}
	for i := in8; i < in; i++ {
		for r := range n {
			dst[i*out+o0+r] = src[r*in+i]
		}
	}
}

// quantRow sets dst[i] = quantInt8(src[i], scale).
func quantRow(dst []int8, src []float32, scale float32) {
	dst = dst[:len(src)]
	k := quantRowAsm(dst, src, scale)
	for i, v := range src[k:] {
		dst[k+i] = quantInt8(v, scale)
	}
}

// QuantizeBiasInt32 is export_qnn_model.py's bias path (quant_bias: true):
// the same absmax scale with q_max = 127, stored as int32. qnnkit's export
// refuses quant_bias (toolchain spec Q10: the v1 runtime reads such a bias
// as int8 bytes, so no file it produces would be consistent); this function
// exists so that the refused behaviour is documented and tested (TV6).
func QuantizeBiasInt32(b []float32, trueDiv bool) (q []int32, scale float32, err error) {
	amax, err := AbsMax(b)
	if err != nil {
		return nil, 0, err
	}
	scale = Int8Scale(amax, trueDiv)
	q = make([]int32, len(b))
	for i, v := range b {
		q[i] = int32(quantInt8(v, scale))
	}
	return q, scale, nil
}
