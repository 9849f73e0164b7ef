package quant

import (
	"fmt"
	"math"

	"github.com/qnnkit/qnnkit/pkg/kernels"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
)

// Format describes one block format: its .mllm dtype code, block geometry
// and (de)quantizers.
type Format struct {
	DType      mllmfmt.DType
	BlockElems int // values per block
	BlockBytes int // bytes per block
	Quantize   func(dst []byte, x []float32)
	Dequantize func(dst []float32, src []byte)
}

// Formats lists the block formats qnnkit can produce, by .mllm dtype code.
func Formats() map[mllmfmt.DType]Format {
	return map[mllmfmt.DType]Format{
		mllmfmt.Q4_0: {mllmfmt.Q4_0, QK4_0, BlockQ4_0Bytes, QuantizeQ4_0, DequantizeQ4_0},
		mllmfmt.Q8_0: {mllmfmt.Q8_0, QK8_0, BlockQ8_0Bytes, QuantizeQ8_0, DequantizeQ8_0},
		mllmfmt.Q4_K: {mllmfmt.Q4_K, QK_K, BlockQ4KBytes, QuantizeQ4K, DequantizeQ4K},
		mllmfmt.Q6_K: {mllmfmt.Q6_K, QK_K, BlockQ6KBytes, QuantizeQ6K, DequantizeQ6K},
		mllmfmt.Q8_K: {mllmfmt.Q8_K, QK_K, BlockQ8KBytes, QuantizeQ8K, DequantizeQ8K},
	}
}

// FormatOf returns the block format for a dtype code.
func FormatOf(dt mllmfmt.DType) (Format, error) {
	f, ok := Formats()[dt]
	if !ok {
		return Format{}, fmt.Errorf("no block quantizer for dtype %v", dt)
	}
	return f, nil
}

// Size is the number of bytes n values take in format f.
func (f Format) Size(n int) (int, error) {
	if n%f.BlockElems != 0 {
		return 0, fmt.Errorf("%d values is not a multiple of the %v block size %d", n, f.DType, f.BlockElems)
	}
	return n / f.BlockElems * f.BlockBytes, nil
}

// Quantize quantizes a whole tensor x into dtype dt, spreading the blocks
// over all cores (blocks are independent, so the bytes are the same as a
// single-threaded run). It rejects NaN/Inf and sizes that are not a whole
// number of blocks.
func Quantize(dt mllmfmt.DType, x []float32) ([]byte, error) {
	f, err := FormatOf(dt)
	if err != nil {
		return nil, err
	}
	n, err := f.Size(len(x))
	if err != nil {
		return nil, err
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("element %d is %v (NaN and Inf cannot be quantized)", i, v)
		}
	}
	dst := make([]byte, n)
	nb := len(x) / f.BlockElems
	kernels.ParallelRanges(nb, 16, func(lo, hi int) {
		f.Quantize(dst[lo*f.BlockBytes:hi*f.BlockBytes], x[lo*f.BlockElems:hi*f.BlockElems])
	})
	return dst, nil
}

// Dequantize expands a whole tensor of dtype dt holding n values.
func Dequantize(dt mllmfmt.DType, src []byte, n int) ([]float32, error) {
	f, err := FormatOf(dt)
	if err != nil {
		return nil, err
	}
	want, err := f.Size(n)
	if err != nil {
		return nil, err
	}
	if len(src) != want {
		return nil, fmt.Errorf("%d bytes of %v for %d values, want %d", len(src), dt, n, want)
	}
	dst := make([]float32, n)
	nb := n / f.BlockElems
	kernels.ParallelRanges(nb, 64, func(lo, hi int) {
		f.Dequantize(dst[lo*f.BlockElems:hi*f.BlockElems], src[lo*f.BlockBytes:hi*f.BlockBytes])
	})
	return dst, nil
}
