//go:build amd64

package runtime

// f16FMAStepsAVX2 runs steps 32-lane fp16 FMA steps (see the .s file).
//
//go:noescape
func f16FMAStepsAVX2(x, y *float32, steps int, acc *float64, reduce bool)

// f16FMASteps accumulates steps 32-element steps of x·y into the 32 fp16
// lanes acc (float64 holding binary16 values), exactly as fmaF16 does.
func f16FMASteps(x, y []float32, steps int, acc *[32]float64) {
	if steps <= 0 {
		return
	}
	if haveAVX2 {
		_ = x[32*steps-1]
		_ = y[32*steps-1]
		f16FMAStepsAVX2(&x[0], &y[0], steps, &acc[0], false)
		return
	}
	f16FMAStepsGeneric(x, y, steps, acc)
}

// f16Dot32 is f16FMASteps followed by the fp16 reduction of the 32 lanes
// into lanes 0-7 (f16Reduce).
func f16Dot32(x, y []float32, steps int, acc *[32]float64) {
	if haveAVX2 {
		var x0, y0 *float32
		if steps > 0 {
			_ = x[32*steps-1]
			_ = y[32*steps-1]
			x0, y0 = &x[0], &y[0]
		}
		f16FMAStepsAVX2(x0, y0, steps, &acc[0], true)
		return
	}
	f16FMAStepsGeneric(x, y, steps, acc)
	f16Reduce(acc)
}
