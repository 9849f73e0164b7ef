package runtime

import (
	"encoding/binary"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// QLinear is one QNNLinearINT8 (a native QNN Conv2d, spec §2.2) with its
// scales as stored in the NPU model file (toolchain spec §4.6).
type QLinear struct {
	Name    string
	In, Out int
	// W is the int8 weight transposed to [Out][In] (the file stores
	// [In][Out]); nil in identity mode. For a model read by LoadNPUModel it
	// lies outside the Go heap and is valid while the model's Layers array
	// is reachable (use QLinear through pointers, do not copy it out).
	W []int8
	// WScale is `.weight.scale`, a step used verbatim.
	WScale float32
	// InRange and OutRange are `.input_scale` and `.output_scale` (ranges).
	InRange, OutRange float32
	// Bias is the float32 `.bias` added by DequantizeAdd (q/k/v), or nil.
	Bias []float32
	// ClipIn and ClipOut are `.clip_input` / `.clip_output` (shadow, §3).
	ClipIn, ClipOut bool
	// F is the float32 weight [Out][In] for identity mode, else nil.
	F []float32
}

// Requant is the Conv2d requantization used by the emulation (spec §2.2:
// Qualcomm's kernel is closed, this is the recommended emulation):
//
//	acc  = Σ_k q_in[k]·q_w[k][n]                 exact, int64
//	code = sat(roundHalfAway(acc · (s_in·s_w/s_out)))   multiplier in float64
//
// The same rule is used in both --htp-rounding modes (the flag selects the
// op-package kernels, not the closed Conv2d).
func Requant(acc int64, mult float64, bits int) int16 {
	return clampCode(math.Round(float64(acc)*mult), bits)
}

// Forward runs the integer Conv2d on rows rows of input codes x
// ([rows][In], step inStep) and writes output codes ([rows][Out], step
// outStep) of width bits (8 for W8A8, 16 for W8A16). Output channels are
// split across threads goroutines (≤ 0: GOMAXPROCS); the result does not
// depend on the split.
func (l *QLinear) Forward(dst, x []int16, rows int, inStep, outStep float32, bits, threads int) {
	mult := float64(inStep) * float64(l.WScale) / float64(outStep)
	parallelFor(l.Out, threads, func(n0, n1 int) {
		for n := n0; n < n1; n++ {
			w := l.W[n*l.In : (n+1)*l.In]
			for r := 0; r < rows; r++ {
				dst[r*l.Out+n] = Requant(dotI16I8(x[r*l.In:(r+1)*l.In], w), mult, bits)
			}
		}
	})
}

// transposeTileRows is the number of rows of W ([In][Out]) transposeI8
// handles per work unit: the unit reads them sequentially and writes one
// cache line per output channel.
const transposeTileRows = 64

// transposeI8 writes w ([in][out]) transposed into dst ([out][in]) on up
// to threads goroutines, 8×8 byte blocks at a time through 64-bit words.
func transposeI8(dst, w []int8, in, out, threads int) {
	tiles := (in + transposeTileRows - 1) / transposeTileRows
	parallelFor(tiles, threads, func(t0, t1 int) {
		for t := t0; t < t1; t++ {
			transposeTile(dst, w, in, out, t*transposeTileRows, min((t+1)*transposeTileRows, in))
		}
	})
}

// transposeTile transposes rows [k0, k1) of w ([in][out]) into columns
// [k0, k1) of dst ([out][in]).
func transposeTile(dst, w []int8, in, out, k0, k1 int) {
	wb := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), len(w))
	db := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst))
	le := binary.LittleEndian
	k8 := k0 + (k1-k0)/8*8
	n8 := out / 8 * 8
	for n := 0; n < n8; n += 8 {
		for k := k0; k < k8; k += 8 {
			var r [8]uint64
			for i := range r {
				r[i] = le.Uint64(wb[(k+i)*out+n:])
			}
			transpose8x8(&r)
			for j := range r {
				le.PutUint64(db[(n+j)*in+k:], r[j])
			}
		}
	}
	for k := k0; k < k1; k++ {
		row := w[k*out : (k+1)*out]
		c0 := n8
		if k >= k8 {
			c0 = 0
		}
		for c := c0; c < out; c++ {
			dst[c*in+k] = row[c]
		}
	}
}

// transpose8x8 transposes the 8×8 byte matrix whose row i is r[i] (byte j
// of a row is bits 8j..8j+7): afterwards byte j of r[i] is the former byte
// i of r[j].
func transpose8x8(r *[8]uint64) {
	for i := 0; i < 8; i += 2 {
		t := (r[i]>>8 ^ r[i+1]) & 0x00FF00FF00FF00FF
		r[i+1] ^= t
		r[i] ^= t << 8
	}
	for _, i := range [4]int{0, 1, 4, 5} {
		t := (r[i]>>16 ^ r[i+2]) & 0x0000FFFF0000FFFF
		r[i+2] ^= t
		r[i] ^= t << 16
	}
	for i := 0; i < 4; i++ {
		t := (r[i]>>32 ^ r[i+4]) & 0x00000000FFFFFFFF
		r[i+4] ^= t
		r[i] ^= t << 32
	}
}

// dotI16I8Generic is the portable exact integer dot product Σ x[k]·w[k].
// Partial sums of 64 products fit int32 (64·32768·128 < 2^31) and are
// added in int64.
func dotI16I8Generic(x []int16, w []int8) int64 {
	var acc int64
	k := 0
	for ; k+64 <= len(x); k += 64 {
		xs := x[k : k+64 : k+64]
		ws := w[k : k+64 : k+64]
		var s int32
		for i := range 64 {
			s += int32(xs[i]) * int32(ws[i])
		}
		acc += int64(s)
	}
	for ; k < len(x); k++ {
		acc += int64(x[k]) * int64(w[k])
	}
	return acc
}

// parallelFor splits [0, n) into contiguous ranges run by up to threads
// goroutines (≤ 0: GOMAXPROCS) and waits for them.
func parallelFor(n, threads int, f func(lo, hi int)) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	threads = min(threads, n)
	if threads <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		lo, hi := n*t/threads, n*(t+1)/threads
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}
