package quant

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// Dot products of the CPU decoder (runtime spec §5.3, §5.6).
//
// Each dot product is split into an integer part, computed exactly (by a
// portable Go loop or, on amd64 with AVX2, by Go assembly), and a float32
// part that both paths share and that follows mllm's ARM NEON code (the
// device decode path) operation by operation. Because the integer parts are
// exact and the float code is the same function, the SIMD and the scalar
// results are equal bit for bit; the tests check it on random and extreme
// blocks.
//
// Every float32 product is wrapped in an explicit float32 conversion so the
// Go compiler never fuses it into a multiply-add: the results are the
// unfused "as written" order of the C source. (clang's default
// -ffp-contract=on may fuse some of them on the phone; that is within one
// rounding of what is computed here.)

// vdF16 reads little-endian binary16 bits at b and widens them exactly.
func vdF16(b []byte) float32 { return tensor.F16ToF32(binary.LittleEndian.Uint16(b)) }

// q4kScaleMin is get_scale_min_k4: the 6-bit scale and min of sub-block j.
func q4kScaleMin(j int, q []byte) (sc, m int32) {
	if j < 4 {
		return int32(q[j] & 63), int32(q[j+4] & 63)
	}
	return int32(q[j+4]&0xF | (q[j-4]>>6)<<4), int32(q[j+4]>>4 | (q[j]>>6)<<4)
}

func checkDot(name string, n, per, wBlock, aBlock int, w, a []byte) int {
	if n%per != 0 {
		panic(fmt.Sprintf("quant.%s: n = %d is not a multiple of %d", name, n, per))
	}
	nb := n / per
	if len(w) < nb*wBlock || len(a) < nb*aBlock {
		panic(fmt.Sprintf("quant.%s: n = %d needs %d weight and %d activation bytes, got %d and %d",
			name, n, nb*wBlock, nb*aBlock, len(w), len(a)))
	}
	return nb
}

// ---------------------------------------------------------------- Q4_K · Q8_K

// VecDotQ4KQ8K returns vec_dot_q4_K_q8_K(n, w, a) (runtime spec §5.3): the
// dot product of n values (a multiple of QK_K) held as Q4_K blocks in w and
// Q8_K blocks in a, with mllm's ARM NEON float order:
//
//	sumf -= dmin·float(Σ_j q8sums_j·m_j);  sumf += d·float(sumi1 + sumi2)
//
// per 256-block. It uses AVX2 for the integer inner products when the CPU
// has it.
func VecDotQ4KQ8K(n int, w, a []byte) float32 {
	nb := checkDot("VecDotQ4KQ8K", n, QK_K, BlockQ4KBytes, BlockQ8KBytes, w, a)
	if !haveAVX2 {
		return vecDotQ4KQ8KGeneric(nb, w, a)
	}
	var sums [8 * 16]int32
	var sumf float32
	for b0 := 0; b0 < nb; b0 += 16 {
		cnt := min(16, nb-b0)
		q4kSumsAVX2(&w[b0*BlockQ4KBytes], &a[b0*BlockQ8KBytes], cnt, &sums[0])
		for i := 0; i < cnt; i++ {
			b := b0 + i
			sumf = q4kBlockFloat(sumf, w[b*BlockQ4KBytes:], a[b*BlockQ8KBytes:], sums[8*i:8*i+8])
		}
	}
	return sumf
}

// VecDotQ4KQ8KRef is the portable reference of VecDotQ4KQ8K (integer
// parts by plain Go loops); the SIMD path must equal it bit for bit.
func VecDotQ4KQ8KRef(n int, w, a []byte) float32 {
	nb := checkDot("VecDotQ4KQ8KRef", n, QK_K, BlockQ4KBytes, BlockQ8KBytes, w, a)
	return vecDotQ4KQ8KGeneric(nb, w, a)
}

func vecDotQ4KQ8KGeneric(nb int, w, a []byte) float32 {
	var sumf float32
	var s [8]int32
	for i := 0; i < nb; i++ {
		x := w[i*BlockQ4KBytes:]
		y := a[i*BlockQ8KBytes:]
		q4kSumsGeneric(x[16:16+QK_K/2], y[4:4+QK_K], &s)
		sumf = q4kBlockFloat(sumf, x, y, s[:])
	}
	return sumf
}

// q4kSumsGeneric computes the eight 32-element sub-block sums
// Σ_l nibble·q8 (sub-blocks 2c: low nibbles of qs[32c..], 2c+1: high).
func q4kSumsGeneric(qs []byte, q8 []byte, s *[8]int32) {
	for c := 0; c < 4; c++ {
		var lo, hi int32
		q := qs[32*c : 32*c+32]
		yl := q8[64*c : 64*c+32]
		yh := q8[64*c+32 : 64*c+64]
		for l := 0; l < 32; l++ {
			lo += int32(q[l]&0xF) * int32(int8(yl[l]))
			hi += int32(q[l]>>4) * int32(int8(yh[l]))
		}
		s[2*c] = lo
		s[2*c+1] = hi
	}
}

// q4kBlockFloat is the per-block float part of §5.3 given the exact
// sub-block sums s[0..7]; x is the Q4_K block, y the Q8_K block.
func q4kBlockFloat(sumf float32, x, y []byte, s []int32) float32 {
	yd := math.Float32frombits(binary.LittleEndian.Uint32(y))
	d := float32(yd * vdF16(x[0:]))
	dmin := float32(yd * vdF16(x[2:]))
	scales := x[4:16]
	var summ, sumi1, sumi2 int32
	for j := 0; j < 8; j++ {
		sc, m := q4kScaleMin(j, scales)
		// q8sums[j] = bsums[2j] + bsums[2j+1] (vpaddq_s16: int16; |.| ≤ 4096).
		b0 := int16(binary.LittleEndian.Uint16(y[4+QK_K+4*j:]))
		b1 := int16(binary.LittleEndian.Uint16(y[4+QK_K+4*j+2:]))
		summ += int32(b0+b1) * m
		if j%2 == 0 {
			sumi1 += s[j] * sc
		} else {
			sumi2 += s[j] * sc
		}
	}
	sumf -= float32(dmin * float32(summ))
	sumf += float32(d * float32(sumi1+sumi2))
	return sumf
}

// ---------------------------------------------------------------- Q4_0 / Q8_0 · Q8_0

// VecDotQ4_0Q8_0 returns vec_dot_q4_0_q8_0(n, w, a) (runtime spec §5.6) with
// mllm's NEON dot-product order: per 32-block, four int32 lanes (lane l
// sums elements 4l..4l+3 and 16+4l..16+4l+3) are converted to float and
// multiplied by d_x·d_y; even blocks accumulate into one float32x4, odd
// blocks into another; the result is vaddvq(sum0) + vaddvq(sum1). n must be
// a multiple of 64 (mllm asserts an even block count).
func VecDotQ4_0Q8_0(n int, w, a []byte) float32 {
	nb := checkDot("VecDotQ4_0Q8_0", n, 2*QK8_0, 2*BlockQ4_0Bytes, 2*BlockQ8_0Bytes, w, a) * 2
	if !haveAVX2 {
		return vecDotPairsGeneric(nb, w, a, BlockQ4_0Bytes, q40Lanes)
	}
	return vecDotPairsSIMD(nb, w, a, BlockQ4_0Bytes, q40LanesAVX2)
}

// VecDotQ4_0Q8_0Ref is the portable reference of VecDotQ4_0Q8_0.
func VecDotQ4_0Q8_0Ref(n int, w, a []byte) float32 {
	nb := checkDot("VecDotQ4_0Q8_0Ref", n, 2*QK8_0, 2*BlockQ4_0Bytes, 2*BlockQ8_0Bytes, w, a) * 2
	return vecDotPairsGeneric(nb, w, a, BlockQ4_0Bytes, q40Lanes)
}

// VecDotQ8_0Q8_0 returns vec_dot_q8_0_q8_0(n, w, a) with the same NEON
// lane and accumulator structure as VecDotQ4_0Q8_0. n must be a multiple
// of 64.
func VecDotQ8_0Q8_0(n int, w, a []byte) float32 {
	nb := checkDot("VecDotQ8_0Q8_0", n, 2*QK8_0, 2*BlockQ8_0Bytes, 2*BlockQ8_0Bytes, w, a) * 2
	if !haveAVX2 {
		return vecDotPairsGeneric(nb, w, a, BlockQ8_0Bytes, q80Lanes)
	}
	return vecDotPairsSIMD(nb, w, a, BlockQ8_0Bytes, q80LanesAVX2)
}

// VecDotQ8_0Q8_0Ref is the portable reference of VecDotQ8_0Q8_0.
func VecDotQ8_0Q8_0Ref(n int, w, a []byte) float32 {
	nb := checkDot("VecDotQ8_0Q8_0Ref", n, 2*QK8_0, 2*BlockQ8_0Bytes, 2*BlockQ8_0Bytes, w, a) * 2
	return vecDotPairsGeneric(nb, w, a, BlockQ8_0Bytes, q80Lanes)
}

// q40Lanes computes the four NEON dot-product lanes of one Q4_0 block x
// against one Q8_0 block y.
func q40Lanes(x, y []byte, out *[4]int32) {
	for l := 0; l < 4; l++ {
		var s int32
		for b := 0; b < 4; b++ {
			j := 4*l + b
			q := x[2+j]
			s += (int32(q&0xF) - 8) * int32(int8(y[2+j]))
			s += (int32(q>>4) - 8) * int32(int8(y[2+16+j]))
		}
		out[l] = s
	}
}

// q80Lanes is q40Lanes for a Q8_0 block x.
func q80Lanes(x, y []byte, out *[4]int32) {
	for l := 0; l < 4; l++ {
		var s int32
		for b := 0; b < 4; b++ {
			j := 4*l + b
			s += int32(int8(x[2+j])) * int32(int8(y[2+j]))
			s += int32(int8(x[2+16+j])) * int32(int8(y[2+16+j]))
		}
		out[l] = s
	}
}

// accumPair adds block b's lanes into the even or odd accumulator
// (vmlaq_n_f32: lane + float(p)·scale, unfused).
func accumPair(acc *[2][4]float32, b int, lanes *[4]int32, scale float32) {
	v := &acc[b&1]
	for l := 0; l < 4; l++ {
		v[l] += float32(float32(lanes[l]) * scale)
	}
}

// vaddv is vaddvq_f32: (l0+l1)+(l2+l3).
func vaddv(v [4]float32) float32 { return (v[0] + v[1]) + (v[2] + v[3]) }

func vecDotPairsGeneric(nb int, w, a []byte, wBlock int, lanes func(x, y []byte, out *[4]int32)) float32 {
	var acc [2][4]float32
	var p [4]int32
	for b := 0; b < nb; b++ {
		x := w[b*wBlock:]
		y := a[b*BlockQ8_0Bytes:]
		lanes(x, y, &p)
		accumPair(&acc, b, &p, float32(vdF16(x)*vdF16(y)))
	}
	return vaddv(acc[0]) + vaddv(acc[1])
}

func vecDotPairsSIMD(nb int, w, a []byte, wBlock int, lanes func(x, y *byte, nb int, out *int32)) float32 {
	var acc [2][4]float32
	var buf [4 * 32]int32
	for b0 := 0; b0 < nb; b0 += 32 {
		cnt := min(32, nb-b0)
		lanes(&w[b0*wBlock], &a[b0*BlockQ8_0Bytes], cnt, &buf[0])
		for i := 0; i < cnt; i++ {
			b := b0 + i
			x := w[b*wBlock:]
			y := a[b*BlockQ8_0Bytes:]
			accumPair(&acc, b, (*[4]int32)(buf[4*i:4*i+4]), float32(vdF16(x)*vdF16(y)))
		}
	}
	return vaddv(acc[0]) + vaddv(acc[1])
}

// VecDotImpl names the integer kernel the VecDot functions use here:
// "avx2" or "generic".
func VecDotImpl() string {
	if haveAVX2 {
		return "avx2"
	}
	return "generic"
}
