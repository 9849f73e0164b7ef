package tensor

import (
	"encoding/binary"
	"math"
	"runtime"
	"sync"
)

// ToFloat32Finite is ToFloat32 that also returns the index of the first
// NaN or ±Inf among the converted values, or -1 when all are finite. For
// bf16 (the usual checkpoint dtype) and float32 the check is part of the
// conversion (one pass over the data), and a long tensor is converted on
// all cores.
func ToFloat32Finite(d DType, raw []byte, dst []float32) (int, error) {
	var conv func(dst []float32, raw []byte) bool
	es := 0
	switch {
	case d == BF16 && len(raw) == 2*len(dst):
		conv, es = bf16ToF32, 2
	case d == F32 && len(raw) == 4*len(dst) && nativeLittleEndian:
		conv, es = f32ToF32, 4
	default:
		if err := ToFloat32(d, raw, dst); err != nil {
			return -1, err
		}
		return firstNonFinite(dst), nil
	}
	const chunk = 1 << 20
	if len(dst) <= chunk || runtime.GOMAXPROCS(0) == 1 {
		if conv(dst, raw) {
			return firstNonFinite(dst), nil
		}
		return -1, nil
	}
	n := (len(dst) + chunk - 1) / chunk
	bad := make([]bool, n)
	var wg sync.WaitGroup
	next := make(chan int, n)
	for c := range n {
		next <- c
	}
	close(next)
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				lo, hi := c*chunk, min(len(dst), (c+1)*chunk)
				bad[c] = conv(dst[lo:hi], raw[es*lo:es*hi])
			}
		}()
	}
	wg.Wait()
	for c, b := range bad {
		if b {
			lo := c * chunk
			return lo + firstNonFinite(dst[lo:min(len(dst), lo+chunk)]), nil
		}
	}
	return -1, nil
}

// nativeLittleEndian: float32 bytes can be copied as they are.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// f32ToF32 copies the little-endian float32 values raw (len(dst) of them)
// into dst, on a little-endian machine, and reports whether any is NaN or
// ±Inf.
func f32ToF32(dst []float32, raw []byte) bool {
	raw = raw[:4*len(dst)]
	k, nonFinite := f32CopyAsm(dst, raw)
	for i := k; i < len(dst); i++ {
		b := binary.LittleEndian.Uint32(raw[4*i:])
		nonFinite = nonFinite || b&0x7f800000 == 0x7f800000
		dst[i] = math.Float32frombits(b)
	}
	return nonFinite
}

// bf16ToF32 widens the bf16 values raw (len(dst) of them, little-endian)
// into dst and reports whether any is NaN or ±Inf (exponent bits all ones).
func bf16ToF32(dst []float32, raw []byte) bool {
	raw = raw[:2*len(dst)]
	k, nonFinite := bf16ToF32Asm(dst, raw)
	for i := k; i < len(dst); i++ {
		b := binary.LittleEndian.Uint16(raw[2*i:])
		nonFinite = nonFinite || b&0x7f80 == 0x7f80
		dst[i] = BF16ToF32(b)
	}
	return nonFinite
}

// firstNonFinite is the index of the first NaN or ±Inf in v, or -1.
func firstNonFinite(v []float32) int {
	for i, x := range v {
		if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}
