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
	// W is the int8 weight [In][Out] as the file stores it (a view of the
	// model file's map); nil in identity mode.
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
// depend on the split. The weight stays in the file's [In][Out] layout:
// each goroutine transposes a strip of wStrip output channels at a time
// into a small buffer (one pass over W per call, against rows passes for
// the products).
func (l *QLinear) Forward(dst, x []int16, rows int, inStep, outStep float32, bits, threads int) {
	mult := float64(inStep) * float64(l.WScale) / float64(outStep)
	in, out := l.In, l.Out
	strips := (out + wStrip - 1) / wStrip
	parallelFor(strips, threads, func(s0, s1 int) {
		wt := make([]int8, wStrip*in)
		for s := s0; s < s1; s++ {
			n0 := s * wStrip
			n1 := min(n0+wStrip, out)
			transposeStrip(wt, l.W, in, out, n0, n1)
			for n := n0; n < n1; n++ {
				w := wt[(n-n0)*in : (n-n0+1)*in]
				for r := 0; r < rows; r++ {
					dst[r*out+n] = Requant(dotI16I8(x[r*in:(r+1)*in], w), mult, bits)
				}
			}
		}
	})
}

// wStrip is the number of output channels Forward transposes at a time.
const wStrip = 8

// transposeStrip writes columns [n0, n1) of w ([in][out]) as rows of dst:
// dst[(n−n0)·in + k] = w[k·out + n]. Full strips of 8 columns go through
// 8×8 byte-block transposes on 64-bit words.
func transposeStrip(dst, w []int8, in, out, n0, n1 int) {
	k := 0
	if n1-n0 == 8 {
		wb := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), len(w))
		db := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst))
		le := binary.LittleEndian
		for ; k+8 <= in; k += 8 {
			var r [8]uint64
			for i := range r {
				o := (k+i)*out + n0
				r[i] = le.Uint64(wb[o : o+8])
			}
			transpose8x8(&r)
			for j := range r {
				le.PutUint64(db[j*in+k:], r[j])
			}
		}
	}
	for ; k < in; k++ {
		row := w[k*out : (k+1)*out]
		for n := n0; n < n1; n++ {
			dst[(n-n0)*in+k] = row[n]
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
