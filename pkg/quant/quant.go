// Package quant holds every quantizer qnnkit writes or reads:
//
//   - int8 per-tensor absmax for the QNN export (mllm's export_qnn_model.py,
//     with the CUDA reciprocal scale and ties-to-even rounding), and
//   - the ggml-derived block formats of mllm's CPU runtime and its C++
//     quantize tool: Q4_0, Q8_0, Q4_K, Q6_K and Q8_K.
//
// The block quantizers reproduce mllm's reference C code byte for byte:
// every float32 operation is written in the C order with an explicit
// float32 conversion after each product, so the Go compiler never fuses a
// multiply-add (which would change results on arm64 or amd64 v3), and
// rounding goes through the same nearest_int trick (add 12582912, read the
// mantissa bits).
//
// Block functions work on whole blocks: len(x) must be a multiple of the
// block's element count and dst exactly the matching number of bytes; they
// panic otherwise, like a slice bound. Inputs must be finite (the C code has
// no NaN handling either); Quantize checks that for whole tensors.
package quant

import (
	"fmt"
	"math"

	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// Block geometry of the ggml formats (elements per block and bytes per block).
const (
	// QK_K is the super-block size of the K-quants (Q4_K, Q6_K, Q8_K).
	QK_K = 256
	// QK4_0 is the block size of Q4_0.
	QK4_0 = 32
	// QK8_0 is the block size of Q8_0.
	QK8_0 = 32

	// BlockQ4_0Bytes is sizeof(block_q4_0): fp16 d; u8 qs[16].
	BlockQ4_0Bytes = 2 + QK4_0/2
	// BlockQ8_0Bytes is sizeof(block_q8_0): fp16 d; int8 qs[32].
	BlockQ8_0Bytes = 2 + QK8_0
	// BlockQ4KBytes is sizeof(block_q4_K): fp16 d, dmin; u8 scales[12]; u8 qs[128].
	BlockQ4KBytes = 2 + 2 + 12 + QK_K/2
	// BlockQ6KBytes is sizeof(block_q6_K): u8 ql[128]; u8 qh[64]; int8 scales[16]; fp16 d.
	BlockQ6KBytes = QK_K/2 + QK_K/4 + QK_K/16 + 2
	// BlockQ8KBytes is sizeof(block_q8_K): float32 d; int8 qs[256]; int16 bsums[16].
	BlockQ8KBytes = 4 + QK_K + 2*QK_K/16
)

// nearestInt is ggml's nearest_int: round to nearest, ties to even, for
// |f| < 2^22, by adding 1.5·2^23 and reading the low mantissa bits.
func nearestInt(f float32) int {
	v := f + 12582912
	return int(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// fp16 rounds a float32 to binary16 bits (nearest, ties to even), as
// MLLM_FP32_TO_FP16 does on ARM and F16C hardware.
func fp16(f float32) uint16 { return tensor.F32ToF16(f) }

// f32 widens binary16 bits exactly.
func f32(h uint16) float32 { return tensor.F16ToF32(h) }

func putF16(b []byte, f float32) {
	h := fp16(f)
	b[0], b[1] = byte(h), byte(h>>8)
}

func getF16(b []byte) float32 { return f32(uint16(b[0]) | uint16(b[1])<<8) }

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// sqrt32 is sqrtf: the float64 square root of a float32 rounds to the same
// float32 as a correctly rounded float32 square root.
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

func checkBlocks(what string, nx, perBlock, nbytes, blockBytes int) int {
	if nx%perBlock != 0 {
		panic(fmt.Sprintf("quant: %s: %d values is not a multiple of the block size %d", what, nx, perBlock))
	}
	nb := nx / perBlock
	if nbytes != nb*blockBytes {
		panic(fmt.Sprintf("quant: %s: %d values need %d bytes (%d blocks of %d), got %d", what, nx, nb*blockBytes, nb, blockBytes, nbytes))
	}
	return nb
}
