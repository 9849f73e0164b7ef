package runtime

import (
	"math"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/model"
)

func loadTiny(t testing.TB) *model.Weights {
	t.Helper()
	ck, err := checkpoint.Open("../../testdata/tinyqwen2")
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	w, err := model.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// testTokens is a fixed pseudo-random token sequence.
func testTokens(n, vocab int) []int {
	ids := make([]int, n)
	s := uint32(12345)
	for i := range ids {
		s = s*1664525 + 1013904223
		ids[i] = int(s>>8) % vocab
	}
	return ids
}

// prefillAll runs tokens through g in chunks of chunk rows (padding the
// last one) and returns the logits of every real row.
func prefillAll(t testing.TB, g *Graph, tokens []int, chunk int) []float32 {
	t.Helper()
	cache := g.NewCache(len(tokens) + chunk)
	p := NewPrefill(g, chunk)
	logits, err := p.AllLogits(tokens, cache)
	if err != nil {
		t.Fatal(err)
	}
	return logits
}

// TestIdentityGraphEqualsFP32 is the wiring test: with every quantization
// step (and every fp16 rounding) replaced by identity, the emulated graph,
// chunked, must equal pkg/model's FP32 forward within 1e-4 relative.
func TestIdentityGraphEqualsFP32(t *testing.T) {
	w := loadTiny(t)
	toks := testTokens(80, w.Config.VocabSize)
	want, err := model.New(w).Forward(toks, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		chunk  int
		shadow []int
	}{
		{"one chunk", 128, nil},
		{"chunks of 32", 32, nil},
		{"chunks of 48 with shadow layers", 48, []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGraph(NPUModelFromWeights(w), GraphOptions{ShadowLayers: tc.shadow})
			if err != nil {
				t.Fatal(err)
			}
			got := prefillAll(t, g, toks, tc.chunk)
			var num, den float64
			for i := range want {
				d := float64(got[i] - want[i])
				num += d * d
				den += float64(want[i]) * float64(want[i])
			}
			rel := math.Sqrt(num / den)
			t.Logf("relative L2 difference %.3g", rel)
			if !(rel < 1e-4) {
				t.Fatalf("identity graph differs from FP32 forward: relative L2 %.3g", rel)
			}
		})
	}
}
