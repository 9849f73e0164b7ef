package runtime

import (
	"math"
	"strings"
	"testing"
	"unsafe"

	"github.com/qnnkit/qnnkit/pkg/eval"
	"github.com/qnnkit/qnnkit/pkg/model"
)

// agreement compares test logits with reference logits row by row.
func agreement(t *testing.T, ref, got []float32, vocab int) (kl, top1 float64) {
	t.Helper()
	var a eval.Agreement
	if err := a.Add(ref, got, vocab); err != nil {
		t.Fatal(err)
	}
	return a.MeanKL(), a.Top1Rate()
}

// TestQuantizedGraph runs the int8 graph (loaded from a synthesized NPU
// file) in both rounding modes and compares it with FP32.
func TestQuantizedGraph(t *testing.T) {
	fx := getFixture(t)
	cfg := fx.W.Config
	m, err := LoadNPUModel(openMllm(t, fx.NPU), cfg)
	if err != nil {
		t.Fatal(err)
	}
	toks := testTokens(96, cfg.VocabSize)[:80]
	want, err := model.New(fx.W).Forward(toks, nil)
	if err != nil {
		t.Fatal(err)
	}
	var outs [2][]float32
	for i, mode := range []Rounding{RoundRef, RoundHVX} {
		g, err := NewGraph(m, GraphOptions{Rounding: mode})
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = prefillAll(t, g, toks, 32)
		kl, top1 := agreement(t, want, outs[i], cfg.VocabSize)
		t.Logf("%v: KL %.4f top-1 %.3f", mode, kl, top1)
		if kl > 0.05 || top1 < 0.85 {
			t.Errorf("%v: int8 graph too far from FP32: KL %.4f, top-1 %.3f", mode, kl, top1)
		}
	}
	same := true
	for i := range outs[0] {
		if outs[0][i] != outs[1][i] {
			same = false
			break
		}
	}
	if same {
		t.Errorf("ref and hvx rounding gave identical logits")
	}
	// Shadow layers on a model whose clip flags are all 1 change nothing
	// but the down_proj precision (int8 instead of int16): still close.
	g, _ := NewGraph(m, GraphOptions{ShadowLayers: []int{1, 2}})
	kl, top1 := agreement(t, want, prefillAll(t, g, toks, 32), cfg.VocabSize)
	t.Logf("shadow 1,2: KL %.4f top-1 %.3f", kl, top1)
	if kl > 0.1 || top1 < 0.8 {
		t.Errorf("shadow graph too far from FP32: KL %.4f top-1 %.3f", kl, top1)
	}
}

// TestDecoderHandOff prefills the first half with the identity graph and
// teacher-forces the second half through the F32 decoder (fp16 KV and
// fp16-accumulated attention): the logits must match the FP32 forward.
func TestDecoderHandOff(t *testing.T) {
	fx := getFixture(t)
	cfg := fx.W.Config
	toks := testTokens(96, cfg.VocabSize)[:72]
	want, err := model.New(fx.W).Forward(toks, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file   string
		maxRel float64
		kl     float64
		top1   float64
	}{
		{fx.F32, 2e-3, 1e-4, 0.97},
		{fx.Q4K, 1, 0.08, 0.8},
		{fx.Q40, 1, 0.1, 0.8},
	} {
		d, err := LoadDecoder(openMllm(t, tc.file), cfg, 2)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := NewGraph(NPUModelFromWeights(fx.W), GraphOptions{})
		cache := g.NewCache(100)
		h := 36
		first, err := NewPrefill(g, 16).AllLogits(toks[:h], cache)
		if err != nil {
			t.Fatal(err)
		}
		if cache.Len(0) != h {
			t.Fatalf("cache length after prefill %d, want %d", cache.Len(0), h)
		}
		got := append([]float32(nil), first...)
		for p := h; p < len(toks); p++ {
			lg, err := d.Step(toks[p], cache)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, lg...)
		}
		var num, den float64
		for i := h * cfg.VocabSize; i < len(want); i++ {
			df := float64(got[i] - want[i])
			num += df * df
			den += float64(want[i]) * float64(want[i])
		}
		rel := math.Sqrt(num / den)
		kl, top1 := agreement(t, want[h*cfg.VocabSize:], got[h*cfg.VocabSize:], cfg.VocabSize)
		t.Logf("%s (%s): decoded rows rel L2 %.3g, KL %.5f, top-1 %.3f", tc.file[strings.LastIndex(tc.file, "/")+1:], d.Formats(), rel, kl, top1)
		if rel > tc.maxRel || kl > tc.kl || top1 < tc.top1 {
			t.Errorf("%s: rel %.3g (max %g), KL %.5f (max %g), top-1 %.3f (min %g)", tc.file, rel, tc.maxRel, kl, tc.kl, top1, tc.top1)
		}
	}
}

func TestKVLimit(t *testing.T) {
	fx := getFixture(t)
	g, _ := NewGraph(NPUModelFromWeights(fx.W), GraphOptions{})
	cache := g.NewCache(40)
	_, err := NewPrefill(g, 32).Run(testTokens(33, fx.W.Config.VocabSize), cache)
	if err == nil || !strings.Contains(err.Error(), "--limits") {
		t.Fatalf("want a --limits error, got %v", err)
	}
	cache = g.NewCache(32)
	if _, err := NewPrefill(g, 32).Run(testTokens(32, fx.W.Config.VocabSize), cache); err != nil {
		t.Fatal(err)
	}
	d, err := LoadDecoder(openMllm(t, fx.F32), fx.W.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Step(5, cache); err == nil || !strings.Contains(err.Error(), "--limits") {
		t.Fatalf("decoder past capacity: want a --limits error, got %v", err)
	}
}

// TestNPUModelViews checks the memory use of a loaded NPU model: the
// float32 tensors are views of the file's map (no copy), the int8 weights
// are the file's [In][Out] bytes transposed, and logits keep their bits
// after ReleaseLMHead drops the lm_head's pages (they are read back).
func TestNPUModelViews(t *testing.T) {
	fx := getFixture(t)
	f := openMllm(t, fx.NPU)
	m, err := LoadNPUModel(f, fx.W.Config)
	if err != nil {
		t.Fatal(err)
	}
	_, lm, err := f.Tensor("lm_head.weight")
	if err != nil {
		t.Fatal(err)
	}
	if aliasF32(lm) && unsafe.Pointer(&m.LMHead[0]) != unsafe.Pointer(&lm[0]) {
		t.Errorf("lm_head is a copy, want a view of the map")
	}
	q := &m.Layers[1].Gate
	_, wb, err := f.Tensor("model.layers.1.mlp.gate_proj.weight")
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < q.In; k++ {
		for n := 0; n < q.Out; n++ {
			if q.W[n*q.In+k] != int8(wb[k*q.Out+n]) {
				t.Fatalf("gate_proj W[%d][%d] = %d, file [%d][%d] = %d", n, k, q.W[n*q.In+k], k, n, int8(wb[k*q.Out+n]))
			}
		}
	}
	g, err := NewGraph(m, GraphOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fx.W.Config
	toks := testTokens(8, cfg.VocabSize)
	x, err := g.Chunk(toks, g.NewCache(8))
	if err != nil {
		t.Fatal(err)
	}
	sel := []int{0, 7}
	want := g.Logits(x, sel)
	m.ReleaseLMHead()
	got := g.Logits(x, sel)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("logit %d after ReleaseLMHead: %v, want %v", i, got[i], want[i])
		}
	}
}
