//go:build !amd64

package runtime

// f16FMASteps accumulates steps 32-element steps of x·y into the 32 fp16
// lanes acc (float64 holding binary16 values), exactly as fmaF16 does.
func f16FMASteps(x, y []float32, steps int, acc *[32]float64) {
	f16FMAStepsGeneric(x, y, steps, acc)
}

// f16Dot32 is f16FMASteps followed by the fp16 reduction of the 32 lanes
// into lanes 0-7 (f16Reduce).
func f16Dot32(x, y []float32, steps int, acc *[32]float64) {
	f16FMAStepsGeneric(x, y, steps, acc)
	f16Reduce(acc)
}
