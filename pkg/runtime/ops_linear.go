package runtime

import (
	"math"
	"runtime"
	"sync"
)

// QLinear is one QNNLinearINT8 (a native QNN Conv2d, spec §2.2) with its
// scales as stored in the NPU model file (toolchain spec §4.6).
type QLinear struct {
	Name    string
	In, Out int
	// W is the int8 weight transposed to [Out][In] (the file stores
	// [In][Out]); nil in identity mode.
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
