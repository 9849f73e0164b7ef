package quant

import (
	"fmt"
	"math"
	"runtime"
	"sync"
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

// AbsMax returns max |w_i|, or an error naming the first NaN or Inf.
func AbsMax(w []float32) (float32, error) {
	var amax float32
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, fmt.Errorf("element %d is %v (NaN and Inf cannot be quantized)", i, v)
		}
		amax = max(amax, abs32(v))
	}
	return amax, nil
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
	// Workers own disjoint row ranges of the [in][out] result; within a
	// range, tiles of 64 input columns are read row by row (contiguous
	// reads) and scattered to 64 output rows.
	const tile = 64
	parallelRanges((in+tile-1)/tile, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			i0, i1 := t*tile, min(in, (t+1)*tile)
			for o := range out {
				for k, v := range w[o*in+i0 : o*in+i1] {
					qT[(i0+k)*out+o] = byte(quantInt8(v, scale))
				}
			}
		}
	})
	return qT, scale, nil
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

// parallelRanges splits [0, n) into chunks of at least minChunk items and
// runs f on them using up to GOMAXPROCS goroutines. f must write disjoint
// outputs; the result is then independent of scheduling.
func parallelRanges(n, minChunk int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers <= 1 || n <= minChunk {
		f(0, n)
		return
	}
	chunk := max(minChunk, (n+workers*4-1)/(workers*4))
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			f(lo, hi)
			<-sem
		}()
	}
	wg.Wait()
}
