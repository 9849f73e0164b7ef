package model

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/kernels"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

func loadTiny(t testing.TB) *Weights {
	t.Helper()
	ck, err := checkpoint.Open("../../testdata/tinyqwen2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	w, err := Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

type linearStats struct {
	Name      string  `json:"name"`
	InAbsMax  float64 `json:"in_absmax"`
	InSum     float64 `json:"in_sum"`
	InAbsSum  float64 `json:"in_abssum"`
	OutAbsMax float64 `json:"out_absmax"`
	OutSum    float64 `json:"out_sum"`
	OutAbsSum float64 `json:"out_abssum"`
}

type promptGolden struct {
	IDs     []int         `json:"ids"`
	Shape   []int         `json:"shape"`
	Linears []linearStats `json:"linears"`
	logits  []float32
}

func loadGolden(t testing.TB) *promptGolden {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/model/prompt.json")
	if err != nil {
		t.Fatal(err)
	}
	var g promptGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("prompt.json: %v", err)
	}
	b, err := os.ReadFile("../../testdata/model/prompt_logits.f32")
	if err != nil {
		t.Fatal(err)
	}
	if g.logits, err = tensor.Float32sFromBytes(b); err != nil {
		t.Fatalf("prompt_logits.f32: %v", err)
	}
	if len(g.Shape) != 2 || g.Shape[0] != len(g.IDs) || len(g.logits) != g.Shape[0]*g.Shape[1] {
		t.Fatalf("golden shape %v, %d ids, %d logits", g.Shape, len(g.IDs), len(g.logits))
	}
	return &g
}

// diffStats compares got against the reference want: maxRel is
// max|got−want| / max|want| over all elements.
type diffStats struct {
	maxAbs, meanAbs, refAbsMax, maxRel float64
	maxElemRel                         float64 // max |got−want|/|want| over |want| ≥ 1e-2·refAbsMax
}

func compare(got, want []float32) diffStats {
	var s diffStats
	for _, w := range want {
		s.refAbsMax = math.Max(s.refAbsMax, math.Abs(float64(w)))
	}
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		s.maxAbs = math.Max(s.maxAbs, d)
		s.meanAbs += d
		if a := math.Abs(float64(want[i])); a >= 1e-2*s.refAbsMax {
			s.maxElemRel = math.Max(s.maxElemRel, d/a)
		}
	}
	s.meanAbs /= float64(len(want))
	s.maxRel = s.maxAbs / s.refAbsMax
	return s
}

func argmaxRows(x []float32, n int) []int {
	var out []int
	for r := 0; r+n <= len(x); r += n {
		best := r
		for i := r; i < r+n; i++ {
			if x[i] > x[best] {
				best = i
			}
		}
		out = append(out, best-r)
	}
	return out
}

func TestForwardMatchesTorch(t *testing.T) {
	w := loadTiny(t)
	g := loadGolden(t)
	m := New(w)
	var calls []string
	got := map[string]linearStats{}
	m.Hook = func(l *Linear, in, out []float32, rows int) {
		if rows != len(g.IDs) || len(in) != rows*l.In || len(out) != rows*l.Out {
			t.Errorf("%s: rows %d, len(in) %d, len(out) %d", l.Name, rows, len(in), len(out))
		}
		calls = append(calls, l.Name)
		var s linearStats
		for _, v := range in {
			s.InAbsMax = math.Max(s.InAbsMax, math.Abs(float64(v)))
			s.InSum += float64(v)
			s.InAbsSum += math.Abs(float64(v))
		}
		for _, v := range out {
			s.OutAbsMax = math.Max(s.OutAbsMax, math.Abs(float64(v)))
			s.OutSum += float64(v)
			s.OutAbsSum += math.Abs(float64(v))
		}
		got[l.Name] = s
	}
	logits, err := m.Forward(g.IDs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(logits) != len(g.logits) {
		t.Fatalf("got %d logits, want %d", len(logits), len(g.logits))
	}
	s := compare(logits, g.logits)
	t.Logf("logits vs torch: max|Δ| %.3g, mean|Δ| %.3g, max|ref| %.4g, max rel (max|Δ|/max|ref|) %.3g, max elementwise rel (|ref| ≥ 1%% of max) %.3g",
		s.maxAbs, s.meanAbs, s.refAbsMax, s.maxRel, s.maxElemRel)
	if s.maxRel > 1e-4 {
		t.Errorf("max relative error %.3g > 1e-4", s.maxRel)
	}
	requireTorchBits(t, "tinyqwen2 logits", logits, g.logits)
	ga, wa := argmaxRows(logits, w.Config.VocabSize), argmaxRows(g.logits, w.Config.VocabSize)
	for i := range wa {
		if ga[i] != wa[i] {
			t.Errorf("row %d: argmax %d, torch %d", i, ga[i], wa[i])
		}
	}

	// The hook sees every linear once, in Linears order, with torch's
	// forward-hook input and output.
	var want []string
	for _, l := range w.Linears() {
		want = append(want, l.Name)
	}
	if strings.Join(calls, ",") != strings.Join(want, ",") {
		t.Fatalf("hook order\n got %v\nwant %v", calls, want)
	}
	if len(g.Linears) != len(want) {
		t.Fatalf("golden has %d linears, model %d", len(g.Linears), len(want))
	}
	for _, ref := range g.Linears {
		s := got[ref.Name]
		for _, c := range []struct {
			what           string
			got, want, tol float64
		}{
			{"in absmax", s.InAbsMax, ref.InAbsMax, 1e-4 * ref.InAbsMax},
			{"in sum", s.InSum, ref.InSum, 1e-4 * ref.InAbsSum},
			{"in abssum", s.InAbsSum, ref.InAbsSum, 1e-4 * ref.InAbsSum},
			{"out absmax", s.OutAbsMax, ref.OutAbsMax, 1e-4 * ref.OutAbsMax},
			{"out sum", s.OutSum, ref.OutSum, 1e-4 * ref.OutAbsSum},
			{"out abssum", s.OutAbsSum, ref.OutAbsSum, 1e-4 * ref.OutAbsSum},
		} {
			if math.Abs(c.got-c.want) > c.tol {
				t.Errorf("%s %s: %.7g, torch %.7g", ref.Name, c.what, c.got, c.want)
			}
		}
	}
}

func TestIncrementalDecodingEqualsFullForward(t *testing.T) {
	w := loadTiny(t)
	g := loadGolden(t)
	m := New(w)
	ids := g.IDs
	vocab := w.Config.VocabSize
	full, err := m.Forward(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		chunks []int
	}{
		{"one by one", repeat(1, len(ids))},
		{"prefill then decode", append([]int{20}, repeat(1, len(ids)-20)...)},
		{"uneven chunks", []int{5, 1, 9, 3, 14}},
		{"single chunk", []int{len(ids)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cache := NewKVCache(w.Config, len(ids))
			var inc []float32
			p := 0
			for _, n := range tc.chunks {
				if cache.Len() != p {
					t.Fatalf("cache.Len() = %d, want %d", cache.Len(), p)
				}
				lg, err := m.Forward(ids[p:p+n], cache)
				if err != nil {
					t.Fatal(err)
				}
				inc = append(inc, lg...)
				p += n
			}
			if p != len(ids) || len(inc) != len(ids)*vocab {
				t.Fatalf("consumed %d ids, %d logits", p, len(inc))
			}
			s := compare(inc, full)
			t.Logf("incremental vs full: max|Δ| %.3g, max rel %.3g", s.maxAbs, s.maxRel)
			if s.maxRel > 1e-5 {
				t.Errorf("incremental vs full: max rel %.3g (max|Δ| %.3g)", s.maxRel, s.maxAbs)
			}
		})
	}
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestKVCacheCapacityAndTruncate(t *testing.T) {
	w := loadTiny(t)
	m := New(w)
	ids := loadGolden(t).IDs[:12]
	cache := NewKVCache(w.Config, 10)
	if _, err := m.Forward(ids[:8], cache); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Forward(ids[8:11], cache); err == nil || !strings.Contains(err.Error(), "capacity") {
		t.Fatalf("overflow: err = %v, want a capacity error", err)
	}
	if cache.Len() != 8 {
		t.Fatalf("failed forward changed the cache: Len %d, want 8", cache.Len())
	}
	// Rewind to 4 and redo 4..9: same logits as an uninterrupted run.
	cache.Truncate(4)
	if cache.Len() != 4 {
		t.Fatalf("Len after Truncate(4) = %d", cache.Len())
	}
	got, err := m.Forward(ids[4:10], cache)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := m.Forward(ids[:10], NewKVCache(w.Config, 10))
	if err != nil {
		t.Fatal(err)
	}
	v := w.Config.VocabSize
	if s := compare(got, ref[4*v:]); s.maxRel > 1e-5 {
		t.Errorf("after truncate: max rel %.3g", s.maxRel)
	}
	if _, err := m.Forward([]int{w.Config.VocabSize}, nil); err == nil {
		t.Error("out-of-vocabulary id accepted")
	}
	other := *w.Config
	other.NumLayers = 2
	if _, err := m.Forward(ids[:1], NewKVCache(&other, 4)); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("cache of another shape: err = %v", err)
	}
	if err := m.LayerForward(0, m.Embed(ids[:1]), 1, NewKVCache(&other, 4)); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("LayerForward with a cache of another shape: err = %v", err)
	}
}

func TestLayerForwardSteps(t *testing.T) {
	// Embed + LayerForward for each layer + Logits is Forward, with or
	// without a cache; running layer by layer leaves Len() at the minimum.
	w := loadTiny(t)
	m := New(w)
	ids := loadGolden(t).IDs[:16]
	ref, err := m.Forward(ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, withCache := range []bool{false, true} {
		var cache *KVCache
		if withCache {
			cache = NewKVCache(w.Config, 16)
		}
		x := m.Embed(ids)
		for i := range w.Layers {
			if err := m.LayerForward(i, x, len(ids), cache); err != nil {
				t.Fatal(err)
			}
			if withCache && i < len(w.Layers)-1 && (cache.Len() != 0 || cache.LayerLen(i) != 16) {
				t.Fatalf("after layer %d: Len %d, LayerLen %d", i, cache.Len(), cache.LayerLen(i))
			}
		}
		got := m.Logits(x, len(ids))
		if s := compare(got, ref); s.maxAbs != 0 {
			t.Errorf("cache=%v: layer steps differ from Forward by %.3g", withCache, s.maxAbs)
		}
	}
}

func TestHookCanModifyOutput(t *testing.T) {
	w := loadTiny(t)
	m := New(w)
	m.Hook = func(l *Linear, in, out []float32, rows int) {
		if l.Name == "lm_head" {
			for i := range out {
				out[i] = float32(i % 7)
			}
		}
	}
	lg, err := m.Forward([]int{1, 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range lg {
		if v != float32(i%7) {
			t.Fatalf("logit %d = %v: hook modification not returned", i, v)
		}
	}
}

func TestLlamaMatchesTorch(t *testing.T) {
	// A random 2-layer Llama (untied lm_head, no biases, 4:1 GQA,
	// rope_theta 5e5, eps 1e-5) made by scripts/gen_model_goldens.py.
	ck, err := checkpoint.Open("../../testdata/model/tinyllama")
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	w, err := Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	c := w.Config
	if c.Arch != "llama" || c.AttentionBias || w.Tied || c.NumKVHeads != 1 || w.Layers[0].Q.B != nil {
		t.Fatalf("unexpected llama config %+v tied %v", c, w.Tied)
	}
	var meta struct {
		IDs   []int `json:"ids"`
		Shape []int `json:"shape"`
	}
	raw, err := os.ReadFile("../../testdata/model/tinyllama.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../testdata/model/tinyllama_logits.f32")
	if err != nil {
		t.Fatal(err)
	}
	want, err := tensor.Float32sFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := New(w).Forward(meta.IDs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d logits, want %d", len(got), len(want))
	}
	s := compare(got, want)
	t.Logf("llama logits vs torch: max|Δ| %.3g, max|ref| %.4g, max rel %.3g", s.maxAbs, s.refAbsMax, s.maxRel)
	if s.maxRel > 1e-4 {
		t.Errorf("max relative error %.3g > 1e-4", s.maxRel)
	}
	requireTorchBits(t, "tinyllama logits", got, want)
}

// requireTorchBits fails unless got has exactly want's bits: with the
// AVX2+FMA kernels every step of the forward rounds as torch's CPU kernels
// with one OpenBLAS thread (the goldens' setting). The portable kernels
// multiply and add separately, so there only the tolerance checks apply.
func requireTorchBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if kernels.Impl() == "generic" {
		t.Logf("%s: portable kernels, bit-identity with torch not expected", what)
		return
	}
	bad, first := 0, -1
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if first < 0 {
				first = i
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ from torch's bits; first [%d] %g, torch %g", what, bad, len(got), first, got[first], want[first])
	}
}

// TestRoPEMatchesTorch checks RoPE against torch_qwen2.Rotary (HF's float32
// inv_freq, emb = cat(freqs, freqs), emb.cos()/emb.sin()) on torch 1.13 with
// AVX2: inv_freq, cos and sin must be bit-identical (inv_freq entries past
// the last multiple of 16 within 1 ulp) at every position of
// testdata/model/rope.json (written by scripts/gen_model_goldens.py rope).
func TestRoPEMatchesTorch(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/model/rope.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		File  string `json:"file"`
		Cases []struct {
			Theta     float64  `json:"theta"`
			HeadDim   int      `json:"head_dim"`
			InvFreq   []uint32 `json:"inv_freq_bits"`
			Positions []int    `json:"positions"`
			Width     int      `json:"width"`
			Offset    int      `json:"offset"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("rope.json has no cases")
	}
	blob, err := os.ReadFile("../../testdata/model/" + g.File)
	if err != nil {
		t.Fatal(err)
	}
	bits := func(i int) uint32 { return binary.LittleEndian.Uint32(blob[4*i:]) }
	ulps := func(a float32, b uint32) int64 {
		d := int64(math.Float32bits(a)) - int64(b)
		if d < 0 {
			d = -d
		}
		return d
	}
	total, big := 0, 0
	for _, c := range g.Cases {
		h := c.HeadDim / 2
		if c.Width != c.HeadDim && c.Width != h {
			t.Fatalf("theta %g dim %d: width %d", c.Theta, c.HeadDim, c.Width)
		}
		if end := c.Offset + 2*c.Width*len(c.Positions); 4*end > len(blob) {
			t.Fatalf("theta %g dim %d: rows end at %d, %s has %d values", c.Theta, c.HeadDim, end, g.File, len(blob)/4)
		}
		// inv_freq: HF's `1/theta**(arange(0,d,2).float()/d)`, whose pow is
		// SLEEF's powf for the first h−h%16 entries (bit for bit) and the C
		// library's for the rest (within 1 ulp of NewRoPE's).
		r := NewRoPE(c.Theta, c.HeadDim)
		if len(r.InvFreq) != len(c.InvFreq) {
			t.Fatalf("theta %g dim %d: %d inv_freq entries, torch %d", c.Theta, c.HeadDim, len(r.InvFreq), len(c.InvFreq))
		}
		off := 0
		for i, b := range c.InvFreq {
			if d := ulps(r.InvFreq[i], b); d > 1 || (d == 1 && i < h-h%16) {
				t.Errorf("theta %g dim %d: inv_freq[%d] = %v, torch %v", c.Theta, c.HeadDim, i, r.InvFreq[i], math.Float32frombits(b))
			} else if d == 1 {
				off++
			}
		}
		if off > 0 {
			t.Logf("theta %g dim %d: %d of the last %d inv_freq entries differ from torch by 1 ulp", c.Theta, c.HeadDim, off, h%16)
		}
		// cos/sin from torch's inv_freq: bit for bit, the full row (the
		// golden's second half equals the first when its width is h).
		for i, b := range c.InvFreq {
			r.InvFreq[i] = math.Float32frombits(b)
		}
		cos := make([]float32, c.HeadDim)
		sin := make([]float32, c.HeadDim)
		hcos := make([]float32, h)
		hsin := make([]float32, h)
		bad := 0
		for pi, p := range c.Positions {
			r.CosSinRow(p, cos, sin)
			r.CosSin(p, hcos, hsin)
			base := c.Offset + 2*c.Width*pi
			for i := 0; i < c.HeadDim; i++ {
				wc, ws := bits(base+i%c.Width), bits(base+c.Width+i%c.Width)
				if math.Float32bits(cos[i]) != wc || math.Float32bits(sin[i]) != ws {
					if bad++; bad <= 10 {
						t.Errorf("theta %g dim %d pos %d dim %d (angle %v): cos %v sin %v, torch %v %v", c.Theta, c.HeadDim, p, i,
							float32(p)*r.InvFreq[i%h], cos[i], sin[i], math.Float32frombits(wc), math.Float32frombits(ws))
					}
				}
				if i < h && (math.Float32bits(hcos[i]) != wc || math.Float32bits(hsin[i]) != ws) {
					if bad++; bad <= 10 {
						t.Errorf("theta %g dim %d pos %d: CosSin[%d] = %v %v, torch %v %v", c.Theta, c.HeadDim, p, i,
							hcos[i], hsin[i], math.Float32frombits(wc), math.Float32frombits(ws))
					}
				}
			}
			for v0 := 0; v0 < c.HeadDim; v0 += 8 {
				ang := make([]float32, 0, 8)
				for i := v0; i < min(v0+8, c.HeadDim); i++ {
					ang = append(ang, float32(p)*r.InvFreq[i%h])
				}
				if sleefNeedsRempi(ang) {
					big += len(ang)
				}
			}
		}
		total += 2 * c.HeadDim * len(c.Positions)
		t.Logf("theta %g dim %d: %d positions, %d cos/sin values differ from torch", c.Theta, c.HeadDim, len(c.Positions), bad)
	}
	t.Logf("%d cos/sin values compared (%d of them in vectors taking the large-argument path)", total, 2*big)
	if big == 0 || big == total/2 {
		t.Errorf("the goldens do not exercise both reduction paths (%d of %d)", 2*big, total)
	}
}
