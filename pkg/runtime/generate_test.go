package runtime

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/model"
)

func TestSampler(t *testing.T) {
	logits := []float32{1, 3, 3, 2, -1}
	if got := NewSampler(SamplerOptions{}).Sample(logits); got != 1 {
		t.Errorf("greedy tie: %d, want 1 (lowest id)", got)
	}
	if got := NewSampler(SamplerOptions{Temperature: 1, TopK: 1, Seed: 5}).Sample(logits); got != 1 {
		t.Errorf("top-k 1: %d, want 1", got)
	}
	if got := NewSampler(SamplerOptions{Temperature: 0.7, TopP: 1e-9, Seed: 5}).Sample(logits); got != 1 {
		t.Errorf("top-p tiny: %d, want 1", got)
	}
	draw := func(seed uint64) []int {
		s := NewSampler(SamplerOptions{Temperature: 1.5, TopK: 4, TopP: 0.95, Seed: seed})
		var out []int
		for i := 0; i < 200; i++ {
			out = append(out, s.Sample(logits))
		}
		return out
	}
	a, b, c := draw(1), draw(1), draw(2)
	counts := map[int]int{}
	same12 := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed gave different draws at %d", i)
		}
		if a[i] != c[i] {
			same12 = false
		}
		counts[a[i]]++
	}
	if same12 {
		t.Errorf("seeds 1 and 2 gave identical draws")
	}
	if counts[4] != 0 || counts[1] == 0 || counts[3] == 0 {
		t.Errorf("top-k 4 draws %v: id 4 must be excluded, ids 1 and 3 expected", counts)
	}
	if err := (SamplerOptions{TopP: 2}).Validate(); err == nil {
		t.Errorf("top-p 2 accepted")
	}
}

// TestGenerateMatchesFP32Greedy: identity prefill + F32 decoder generate
// the same greedy tokens as the FP32 forward; the prompt spans several
// chunks, so positions and the (R−1) mod C logits row are exercised.
func TestGenerateMatchesFP32Greedy(t *testing.T) {
	fx := getFixture(t)
	cfg := fx.W.Config
	prompt := testTokens(45, cfg.VocabSize)
	m := model.New(fx.W)
	var want []int
	seq := append([]int(nil), prompt...)
	for len(want) < 8 {
		lg, err := m.Forward(seq, nil)
		if err != nil {
			t.Fatal(err)
		}
		id := Argmax(lg[(len(seq)-1)*cfg.VocabSize:])
		want = append(want, id)
		seq = append(seq, id)
	}
	g, _ := NewGraph(NPUModelFromWeights(fx.W), GraphOptions{})
	d, err := LoadDecoder(openMllm(t, fx.F32), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{16, 45, 64} {
		gen := &Generator{Prefill: NewPrefill(g, chunk), Decoder: d, Limit: 128, Sampler: NewSampler(SamplerOptions{})}
		var got []int
		st, err := gen.Generate(prompt, 8, func(id int) bool { got = append(got, id); return true })
		if err != nil {
			t.Fatal(err)
		}
		if st.Generated != 8 || len(got) != 8 {
			t.Fatalf("chunk %d: generated %d", chunk, st.Generated)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("chunk %d: tokens %v, FP32 greedy %v", chunk, got, want)
			}
		}
		// Stop tokens end the answer.
		gen.Stop = []int{want[2]}
		got = got[:0]
		st, err = gen.Generate(prompt, 8, func(id int) bool { got = append(got, id); return true })
		if err != nil || !st.Stopped || len(got) != 2 {
			t.Fatalf("stop token: %v %+v %v", got, st, err)
		}
		// --limits too small for the decode.
		gen.Stop, gen.Limit = nil, 64+2
		if chunk == 64 {
			_, err = gen.Generate(prompt, 30, func(int) bool { return true })
			if err == nil || !strings.Contains(err.Error(), "--limits") {
				t.Fatalf("want a --limits error, got %v", err)
			}
		}
	}
}

// TestReport: with the identity graph, the F32 decoder and the FP32
// reference, every column must agree with FP32; the JSON line has the
// documented keys.
func TestReport(t *testing.T) {
	fx := getFixture(t)
	cfg := fx.W.Config
	ids := testTokens(200, cfg.VocabSize)
	g, _ := NewGraph(NPUModelFromWeights(fx.W), GraphOptions{})
	d, err := LoadDecoder(openMllm(t, fx.F32), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := model.New(fx.W)
	ref := func(in []int) ([]float32, error) { return m.Forward(in, nil) }
	r, err := Evaluate(ids, NewPrefill(g, 32), d, ref, ReportOptions{Ctx: 64, MaxWindows: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Windows != 2 || r.NPU.NLL.Count != 2*63 || r.Decoded.NLL.Count != 2*32 {
		t.Fatalf("windows %d, counts %d %d", r.Windows, r.NPU.NLL.Count, r.Decoded.NLL.Count)
	}
	for _, c := range []*Column{&r.NPU, &r.Pair} {
		if math.Abs(c.PPL()/r.FP32.PPL()-1) > 1e-3 || c.Agree.MeanKL() > 1e-4 || c.Agree.Top1Rate() < 0.99 {
			t.Errorf("%s: ppl %v vs fp32 %v, KL %v, top-1 %v", c.Name, c.PPL(), r.FP32.PPL(), c.Agree.MeanKL(), c.Agree.Top1Rate())
		}
	}
	var buf bytes.Buffer
	r.Format(&buf)
	if !strings.Contains(buf.String(), "deployed pair") {
		t.Errorf("table: %s", buf.String())
	}
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := json.Unmarshal(js, &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"fp32", "npu_prefill", "deployed_pair", "tokens"} {
		if _, ok := top[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, js)
		}
	}
	if pp := top["deployed_pair"].(map[string]any); pp["kl"] == nil || pp["top1"] == nil || pp["ppl"] == nil {
		t.Errorf("deployed_pair: %v", pp)
	}
	// Without a reference: fp32 is null and there is no agreement.
	r, err = Evaluate(ids, NewPrefill(g, 32), d, nil, ReportOptions{Ctx: 64, MaxWindows: 1})
	if err != nil {
		t.Fatal(err)
	}
	js, _ = r.JSON()
	if !strings.Contains(string(js), `"fp32":null`) {
		t.Errorf("no-reference JSON: %s", js)
	}
}
