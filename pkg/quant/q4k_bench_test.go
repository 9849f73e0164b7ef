package quant

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/tensor"
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

// BenchmarkQuantizeFileQ4K runs QuantizeFile (Q4_K) on a synthetic .mllm of
// four 2048×5504 tensors and a norm vector (180 MB of f32), writing a real
// file, as the quantize command does.
func BenchmarkQuantizeFileQ4K(b *testing.B) {
	dir := b.TempDir()
	x := benchWeights()
	names := []string{"model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.gate_proj.weight",
		"model.layers.0.mlp.up_proj.weight", "model.layers.0.post_attention_layernorm.weight", "model.layers.1.mlp.up_proj.weight"}
	inPath := filepath.Join(dir, "in.mllm")
	f, err := os.Create(inPath)
	if err != nil {
		b.Fatal(err)
	}
	mw, err := mllmfmt.NewWriter(f, names)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for i, n := range names {
		data := tensor.Float32Bytes(x)
		if strings.Contains(n, "norm") {
			data = tensor.Float32Bytes(x[:2048])
		}
		x[i] += 1e-3 // different tensors
		total += int64(len(data))
		if err := mw.WriteTensor(n, mllmfmt.F32, data); err != nil {
			b.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	in, err := mllmfmt.Open(inPath)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	b.SetBytes(total)
	defer reportCPU(b, total)()
	b.ResetTimer()
	for range b.N {
		out, err := os.Create(filepath.Join(dir, "out.mllm"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := QuantizeFile(in, out, mllmfmt.Q4_K, FileOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := out.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
