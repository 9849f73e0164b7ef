//go:build !amd64

package runtime

// f16FMASteps accumulates steps 32-element steps of x·y into the 32 fp16
// lanes acc (float64 holding binary16 values), exactly as fmaF16 does.
func f16FMASteps(x, y []float32, steps int, acc *[32]float64) {
	f16FMAStepsGeneric(x, y, steps, acc)
}
