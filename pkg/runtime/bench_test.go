package runtime

import (
	"syscall"
	"testing"
	"time"

	"github.com/qnnkit/qnnkit/pkg/model"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a cpu-ns/op metric (CPU time of the whole process per
// op): on a shared machine it tracks the work better than wall time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkDecode measures one decoder step at position ~128 for each
// decode-model format and the FP32 forward of pkg/model (tokens/s =
// 1e9 / ns/op).
func BenchmarkDecode(b *testing.B) {
	fx := getFixture(b)
	cfg := fx.W.Config
	prompt := testTokens(128, cfg.VocabSize)
	for _, f := range []struct{ name, path string }{{"q4_k", fx.Q4K}, {"q4_0", fx.Q40}, {"f32", fx.F32}} {
		b.Run(f.name, func(b *testing.B) {
			d, err := LoadDecoder(openMllm(b, f.path), cfg, 0)
			if err != nil {
				b.Fatal(err)
			}
			g, _ := NewGraph(NPUModelFromWeights(fx.W), GraphOptions{})
			cache := g.NewCache(128 + b.N + 1)
			if _, err := NewPrefill(g, 128).Run(prompt, cache); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			c0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := d.Step(prompt[i%128], cache); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, c0)
		})
	}
	b.Run("fp32-forward", func(b *testing.B) {
		m := model.New(fx.W)
		cache := model.NewKVCache(cfg, 128+b.N+1)
		if _, err := m.Forward(prompt, cache); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		c0 := cpuTime()
		for i := 0; i < b.N; i++ {
			if _, err := m.Forward([]int{prompt[i%128]}, cache); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, c0)
	})
}

// BenchmarkPrefillChunk measures one 128-row chunk of the int8 graph.
func BenchmarkPrefillChunk(b *testing.B) {
	fx := getFixture(b)
	m, err := LoadNPUModel(openMllm(b, fx.NPU), fx.W.Config)
	if err != nil {
		b.Fatal(err)
	}
	g, _ := NewGraph(m, GraphOptions{})
	toks := testTokens(128, fx.W.Config.VocabSize)
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := NewPrefill(g, 128).Run(toks, g.NewCache(128)); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, c0)
}
