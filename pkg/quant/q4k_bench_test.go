package quant

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
)

// benchWeights is a 2048×5504 tensor (a Qwen1.5-1.8B MLP projection) of
// Gaussian values with the spread of trained weights.
func benchWeights() []float32 {
	r := rand.New(rand.NewPCG(18, 5504))
	x := make([]float32, 2048*5504)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * 0.02
	}
	return x
}

// BenchmarkQuantizeQ4KTensor quantizes one 2048×5504 tensor on all cores,
// as QuantizeFile does (bytes/s counts the f32 input).
func BenchmarkQuantizeQ4KTensor(b *testing.B) {
	x := benchWeights()
	b.SetBytes(int64(4 * len(x)))
	defer reportCPU(b, int64(4*len(x)))()
	b.ResetTimer()
	for range b.N {
		if _, err := Quantize(mllmfmt.Q4_K, x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuantizeQ4KSerial is the same tensor on one goroutine: its
// bytes/s is the f32 input quantized per CPU-second.
func BenchmarkQuantizeQ4KSerial(b *testing.B) {
	x := benchWeights()
	dst := make([]byte, len(x)/QK_K*BlockQ4KBytes)
	b.SetBytes(int64(4 * len(x)))
	defer reportCPU(b, int64(4*len(x)))()
	b.ResetTimer()
	for range b.N {
		QuantizeQ4K(dst, x)
	}
}

// reportCPU adds the process CPU time per op and the f32 input bytes per
// CPU-second: on a shared machine they are steadier than wall time.
func reportCPU(b *testing.B, bytesPerOp int64) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		per := (cpu() - start).Seconds() / float64(b.N)
		b.ReportMetric(per, "cpu-s/op")
		b.ReportMetric(float64(bytesPerOp)/per/1e6, "MB/cpu-s")
	}
}
