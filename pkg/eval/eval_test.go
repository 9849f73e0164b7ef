package eval

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestLogSoftmax(t *testing.T) {
	cases := []struct {
		name string
		x    []float32
		want []float64
	}{
		{"uniform", []float32{3, 3, 3, 3}, []float64{-math.Log(4), -math.Log(4), -math.Log(4), -math.Log(4)}},
		{"two", []float32{0, float32(math.Log(3))}, []float64{math.Log(0.25), math.Log(0.75)}},
		{"huge", []float32{1e30, 0}, []float64{0, -1e30}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]float64, len(tc.x))
			LogSoftmax(got, tc.x)
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-7*math.Max(1, math.Abs(tc.want[i])) {
					t.Errorf("[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestNLL(t *testing.T) {
	var a NLL
	// Uniform over 8: ppl 8.
	if err := a.Add(make([]float32, 3*8), 8, []int{0, 5, 7}); err != nil {
		t.Fatal(err)
	}
	if math.Abs(a.PPL()-8) > 1e-12 || a.Count != 3 {
		t.Fatalf("uniform: ppl %v count %d", a.PPL(), a.Count)
	}
	// p(target) = 0.75 → nll −ln 0.75.
	var b NLL
	if err := b.Add([]float32{0, float32(math.Log(3))}, 2, []int{1}); err != nil {
		t.Fatal(err)
	}
	if math.Abs(b.Sum+math.Log(0.75)) > 1e-7 {
		t.Fatalf("nll %v, want %v", b.Sum, -math.Log(0.75))
	}
	a.Merge(b)
	if a.Count != 4 || math.Abs(a.Sum-(3*math.Log(8)-math.Log(0.75))) > 1e-7 {
		t.Fatalf("merged %+v", a)
	}
	for _, c := range []struct {
		name    string
		logits  []float32
		vocab   int
		targets []int
	}{
		{"shape", make([]float32, 5), 4, []int{0}},
		{"zero vocab", nil, 0, nil},
		{"target range", make([]float32, 4), 4, []int{4}},
		{"negative target", make([]float32, 4), 4, []int{-1}},
		{"nan", []float32{float32(math.NaN()), 0}, 2, []int{0}},
	} {
		var x NLL
		if err := x.Add(c.logits, c.vocab, c.targets); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func TestAgreement(t *testing.T) {
	ln := func(x float64) float32 { return float32(math.Log(x)) }
	var a Agreement
	// Row 0: identical. Row 1: p = (0.5, 0.5), q = (0.25, 0.75).
	ref := []float32{1, 2, ln(0.5), ln(0.5)}
	test := []float32{1, 2, ln(0.25), ln(0.75)}
	if err := a.Add(ref, test, 2); err != nil {
		t.Fatal(err)
	}
	wantKL := 0.5*math.Log(0.5/0.25) + 0.5*math.Log(0.5/0.75)
	if a.Rows != 2 || math.Abs(a.KLSum-wantKL) > 1e-7 || math.Abs(a.KLMax-wantKL) > 1e-7 {
		t.Fatalf("got %+v, want KL sum/max %v", a, wantKL)
	}
	// Row 1's argmax: ref ties → index 0; test → index 1.
	if a.Top1 != 1 || a.Top1Rate() != 0.5 {
		t.Fatalf("top1 %d rate %v", a.Top1, a.Top1Rate())
	}
	if math.Abs(a.MeanKL()-wantKL/2) > 1e-7 {
		t.Fatalf("mean KL %v", a.MeanKL())
	}
	var b Agreement
	b.Merge(a)
	b.Merge(a)
	if b.Rows != 4 || b.Top1 != 2 || b.KLMax != a.KLMax {
		t.Fatalf("merge %+v", b)
	}
	if err := a.Add(ref, test[:3], 2); err == nil {
		t.Error("length mismatch accepted")
	}
}

// bigram is a LogitsFunc whose row r puts log-probability ln(0.5) on
// (ids[r]+1) mod vocab and spreads the rest uniformly; it records calls.
type bigram struct {
	vocab int
	calls [][]int
}

func (b *bigram) logits(ids []int) ([]float32, error) {
	b.calls = append(b.calls, append([]int(nil), ids...))
	out := make([]float32, len(ids)*b.vocab)
	rest := float32(math.Log(0.5 / float64(b.vocab-1)))
	for r, id := range ids {
		for j := 0; j < b.vocab; j++ {
			out[r*b.vocab+j] = rest
		}
		out[r*b.vocab+(id+1)%b.vocab] = float32(math.Log(0.5))
	}
	return out, nil
}

func TestPerplexityProtocol(t *testing.T) {
	const vocab = 10
	ids := make([]int, 103)
	for i := range ids {
		ids[i] = (i * i) % vocab // some next ids follow the bigram, others not
	}
	cases := []struct {
		name           string
		ctx, maxW      int
		wantWindows    int
		wantFirstInput []int
	}{
		{"ctx 10 all windows", 10, 0, 10, ids[0:9]},
		{"ctx 10 capped", 10, 3, 3, ids[0:9]},
		{"ctx 50", 50, 0, 2, ids[0:49]},
		{"one window", 103, 0, 1, ids[0:102]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &bigram{vocab: vocab}
			var progress []int
			res, err := Perplexity(ids, vocab, Options{Ctx: tc.ctx, MaxWindows: tc.maxW, Progress: func(d, n int) {
				if n != tc.wantWindows {
					t.Errorf("progress total %d, want %d", n, tc.wantWindows)
				}
				progress = append(progress, d)
			}}, b.logits)
			if err != nil {
				t.Fatal(err)
			}
			if res.Windows != tc.wantWindows || len(b.calls) != tc.wantWindows || len(progress) != tc.wantWindows {
				t.Fatalf("windows %d, calls %d, progress %d; want %d", res.Windows, len(b.calls), len(progress), tc.wantWindows)
			}
			var want float64
			for w, call := range b.calls {
				if len(call) != tc.ctx-1 || call[0] != ids[tc.ctx*w] || call[len(call)-1] != ids[tc.ctx*(w+1)-2] {
					t.Fatalf("window %d input %v", w, call)
				}
				for r := 1; r < tc.ctx; r++ {
					prev, next := ids[tc.ctx*w+r-1], ids[tc.ctx*w+r]
					if next == (prev+1)%vocab {
						want -= math.Log(0.5)
					} else {
						want -= math.Log(0.5 / (vocab - 1))
					}
				}
			}
			if res.Count != tc.wantWindows*(tc.ctx-1) {
				t.Errorf("count %d, want %d", res.Count, tc.wantWindows*(tc.ctx-1))
			}
			if math.Abs(res.Sum-want) > 1e-5*want {
				t.Errorf("nll %v, want %v", res.Sum, want)
			}
			if math.Abs(res.PPL()-math.Exp(want/float64(res.Count))) > 1e-6*res.PPL() {
				t.Errorf("ppl %v", res.PPL())
			}
		})
	}
}

func TestPerplexityErrors(t *testing.T) {
	b := &bigram{vocab: 4}
	if _, err := Perplexity(make([]int, 511), 4, Options{}, b.logits); err == nil || !strings.Contains(err.Error(), "do not fill one window of 512") {
		t.Errorf("short stream: %v", err)
	}
	if _, err := Perplexity(make([]int, 10), 4, Options{Ctx: 1}, b.logits); err == nil {
		t.Error("ctx 1 accepted")
	}
	boom := errors.New("boom")
	_, err := Perplexity(make([]int, 20), 4, Options{Ctx: 10}, func(ids []int) ([]float32, error) { return nil, boom })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "window 0") {
		t.Errorf("logits error: %v", err)
	}
	_, err = Perplexity(make([]int, 20), 4, Options{Ctx: 10}, func(ids []int) ([]float32, error) { return make([]float32, 3), nil })
	if err == nil || !strings.Contains(err.Error(), "window 0") {
		t.Errorf("shape error: %v", err)
	}
}
