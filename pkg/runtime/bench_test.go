package runtime

import (
	"testing"

	"github.com/qnnkit/qnnkit/pkg/model"
)

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
			for i := 0; i < b.N; i++ {
				if _, err := d.Step(prompt[i%128], cache); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("fp32-forward", func(b *testing.B) {
		m := model.New(fx.W)
		cache := model.NewKVCache(cfg, 128+b.N+1)
		if _, err := m.Forward(prompt, cache); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := m.Forward([]int{prompt[i%128]}, cache); err != nil {
				b.Fatal(err)
			}
		}
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
	for i := 0; i < b.N; i++ {
		if _, err := NewPrefill(g, 128).Run(toks, g.NewCache(128)); err != nil {
			b.Fatal(err)
		}
	}
}
