package model

import (
	"math"
	"strings"
	"testing"
)

func TestRMSNorm(t *testing.T) {
	cases := []struct {
		name string
		x, w []float32
		eps  float64
	}{
		{"ones", []float32{1, 1, 1, 1}, []float32{1, 1, 1, 1}, 1e-6},
		{"mixed", []float32{3, -4, 0, 12}, []float32{0.5, 2, 1, -1}, 1e-6},
		{"zero row uses eps", []float32{0, 0}, []float32{1, 1}, 1e-6},
		{"two rows", []float32{1, 2, 3, 4, -1, 0.5, 0.25, 8}, []float32{1, 1, 1, 1}, 1e-5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := len(tc.w)
			rows := len(tc.x) / d
			got := make([]float32, len(tc.x))
			RMSNorm(got, tc.x, tc.w, rows, tc.eps)
			for r := 0; r < rows; r++ {
				var ss float64
				for _, v := range tc.x[r*d : (r+1)*d] {
					ss += float64(v) * float64(v)
				}
				inv := 1 / math.Sqrt(ss/float64(d)+tc.eps)
				for j := 0; j < d; j++ {
					want := float64(tc.x[r*d+j]) * inv * float64(tc.w[j])
					if math.Abs(float64(got[r*d+j])-want) > 1e-6*math.Max(1, math.Abs(want)) {
						t.Errorf("row %d col %d: %v, want %v", r, j, got[r*d+j], want)
					}
				}
			}
			// In place gives the same result.
			in := append([]float32(nil), tc.x...)
			RMSNorm(in, in, tc.w, rows, tc.eps)
			for i := range in {
				if in[i] != got[i] {
					t.Fatalf("in-place result differs at %d", i)
				}
			}
		})
	}
}

func TestRoPE(t *testing.T) {
	r := NewRoPE(10000, 8)
	// inv_freq = 1/10000^(2i/8) = 1, 0.1, 0.01, 0.001.
	for i, want := range []float64{1, 0.1, 0.01, 0.001} {
		if math.Abs(float64(r.InvFreq[i])-want) > 1e-7*want {
			t.Errorf("inv_freq[%d] = %v, want %v", i, r.InvFreq[i], want)
		}
	}
	cases := []struct {
		name      string
		rows, pos int
	}{
		{"position 0 is identity", 1, 0},
		{"positions 5..7", 3, 5},
		{"far position", 1, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			heads := 2
			x := make([]float32, tc.rows*heads*8)
			for i := range x {
				x[i] = float32(i%11) - 5
			}
			y := append([]float32(nil), x...)
			r.Apply(y, tc.rows, heads, tc.pos)
			for row := 0; row < tc.rows; row++ {
				p := float64(tc.pos + row)
				for h := 0; h < heads; h++ {
					v := x[(row*heads+h)*8:]
					g := y[(row*heads+h)*8:]
					var n0, n1 float64
					for i := 0; i < 4; i++ {
						a := p * float64(r.InvFreq[i])
						w0 := float64(v[i])*math.Cos(a) - float64(v[i+4])*math.Sin(a)
						w1 := float64(v[i+4])*math.Cos(a) + float64(v[i])*math.Sin(a)
						if math.Abs(float64(g[i])-w0) > 1e-4 || math.Abs(float64(g[i+4])-w1) > 1e-4 {
							t.Errorf("row %d head %d dim %d: (%v,%v), want (%v,%v)", row, h, i, g[i], g[i+4], w0, w1)
						}
						n0 += float64(v[i])*float64(v[i]) + float64(v[i+4])*float64(v[i+4])
						n1 += float64(g[i])*float64(g[i]) + float64(g[i+4])*float64(g[i+4])
					}
					if math.Abs(n0-n1) > 1e-4*n0 {
						t.Errorf("rotation changed the norm: %v → %v", n0, n1)
					}
				}
			}
			if tc.pos == 0 {
				for i := range x {
					if x[i] != y[i] {
						t.Fatalf("position 0 changed element %d: %v → %v", i, x[i], y[i])
					}
				}
			}
		})
	}
}

func TestSoftmax(t *testing.T) {
	cases := []struct {
		name string
		x    []float32
		want []float64
	}{
		{"uniform", []float32{2, 2, 2, 2}, []float64{0.25, 0.25, 0.25, 0.25}},
		{"two", []float32{0, float32(math.Log(3))}, []float64{0.25, 0.75}},
		{"large values stay finite", []float32{1000, 1000 + float32(math.Log(4)), -1e30}, []float64{0.2, 0.8, 0}},
		{"single", []float32{-7}, []float64{1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := append([]float32(nil), tc.x...)
			Softmax(x)
			for i := range x {
				if math.Abs(float64(x[i])-tc.want[i]) > 1e-6 {
					t.Errorf("p[%d] = %v, want %v", i, x[i], tc.want[i])
				}
			}
		})
	}
	Softmax(nil)
}

func TestSiLU(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{{0, 0}, {1, 0.7310585786}, {-1, -0.2689414214}, {20, 19.99999996}, {-100, 0}} {
		if got := SiLU(float32(c.x)); math.Abs(float64(got)-c.want) > 1e-6*math.Max(1, math.Abs(c.want)) {
			t.Errorf("SiLU(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}

func TestParseConfigArchitectures(t *testing.T) {
	base := `"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100`
	cases := []struct {
		name    string
		json    string
		wantErr string
		bias    bool
		kv      int
	}{
		{"qwen2 has q/k/v bias", `{"model_type": "qwen2", ` + base + `}`, "", true, 4},
		{"llama without bias", `{"model_type": "llama", "num_key_value_heads": 2, ` + base + `}`, "", false, 2},
		{"llama attention_bias", `{"model_type": "llama", "attention_bias": true, ` + base + `}`, "", true, 4},
		{"qwen2_vl rejected", `{"model_type": "qwen2_vl", ` + base + `}`, "Qwen2-VL (vision-language) is not supported", false, 0},
		{"qwen2-vl rejected", `{"model_type": "qwen2-vl", ` + base + `}`, "Qwen2-VL (vision-language) is not supported", false, 0},
		{"unknown type", `{"model_type": "gpt2", ` + base + `}`, `model_type "gpt2" is not supported (supported: llama, qwen2)`, false, 0},
		{"sliding window", `{"model_type": "qwen2", "use_sliding_window": true, ` + base + `}`, "use_sliding_window", false, 0},
		{"llama gelu", `{"model_type": "llama", "hidden_act": "gelu", ` + base + `}`, "hidden_act", false, 0},
		{"rope scaling", `{"model_type": "qwen2", "rope_scaling": {"type": "yarn"}, ` + base + `}`, "rope_scaling", false, 0},
		{"missing field", `{"model_type": "qwen2", "hidden_size": 64}`, "is missing", false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.json))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.AttentionBias != tc.bias || c.NumKVHeads != tc.kv || c.HeadDim != 16 {
				t.Errorf("bias %v kv %d head_dim %d; want bias %v kv %d head_dim 16", c.AttentionBias, c.NumKVHeads, c.HeadDim, tc.bias, tc.kv)
			}
		})
	}
}

func TestExpf(t *testing.T) {
	// Every representable float32 in steps across the range, plus edges.
	xs := []float32{0, -0.0, 1, -1, 88, 87.9, -87, -86.99, -100, 100, float32(math.Inf(-1)), float32(math.Inf(1)), 1e-8, -1e-8}
	for x := float32(-90); x < 90; x += 0.0137 {
		xs = append(xs, x)
	}
	for _, x := range xs {
		got := expf(x)
		want := float32(math.Exp(float64(x)))
		if got == want {
			continue
		}
		ulps := math.Abs(float64(int64(math.Float32bits(got)) - int64(math.Float32bits(want))))
		if ulps > 1 {
			t.Fatalf("expf(%v) = %v, want %v (%v ulps)", x, got, want, ulps)
		}
	}
	if v := expf(float32(math.NaN())); !math.IsNaN(float64(v)) {
		t.Errorf("expf(NaN) = %v", v)
	}
}
