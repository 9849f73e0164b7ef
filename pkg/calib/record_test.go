package calib

import (
	"testing"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/model"
)

func loadTiny(t *testing.T) *model.Weights {
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

// The recorder sees every Linear's input and bias-free output in
// first-call order, and its result equals a full sort of those values.
func TestRecorderOnTinyModel(t *testing.T) {
	w := loadTiny(t)
	samples := [][]int{{47, 388, 84, 300, 290}, {1406, 1694, 271, 12, 13, 14, 15, 8189}}
	lengths := []int{len(samples[0]), len(samples[1])}
	layers, counts, err := Counts(w, lengths)
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 4*7+1 || layers[0] != "model.layers.0.self_attn.q_proj" || layers[6] != "model.layers.0.mlp.down_proj" || layers[28] != "lm_head" {
		t.Fatalf("layer order %v", layers)
	}
	if c := counts["lm_head"]; c != [2]int64{13 * 256, 13 * 8192} {
		t.Fatalf("lm_head counts %v", c)
	}
	for _, noBias := range []bool{true, false} {
		st, err := NewStats(layers, counts, false)
		if err != nil {
			t.Fatal(err)
		}
		rec := NewRecorder(w, st, noBias)
		// collect every value independently through a second hook pass
		all := map[string][2][]float32{}
		var order []string
		m := model.New(w)
		m.Hook = func(l *model.Linear, in, out []float32, rows int) {
			if _, ok := all[l.Name]; !ok {
				order = append(order, l.Name)
			}
			v := all[l.Name]
			v[0] = append(v[0], in...)
			for i, x := range out {
				if noBias && l.B != nil {
					x -= l.B[i%l.Out]
				}
				v[1] = append(v[1], x)
			}
			all[l.Name] = v
		}
		for _, s := range samples {
			if err := rec.Sample(s); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Forward(s, nil); err != nil {
				t.Fatal(err)
			}
		}
		r, err := st.Result()
		if err != nil {
			t.Fatal(err)
		}
		if !equalStrings(order, r.Layers) {
			t.Fatalf("first-call order %v, result %v", order, r.Layers)
		}
		for _, l := range r.Layers {
			for d := range 2 {
				ori, top, _ := reference(all[l][d], false)
				got := [2]Range{r.Ori[l], r.Top01[l]}
				g := [2]float64{got[0].Input, got[1].Input}
				if d == 1 {
					g = [2]float64{got[0].Output, got[1].Output}
				}
				if g[0] != ori || g[1] != top {
					t.Errorf("noBias=%v %s %s: ori/top %v, want %v/%v", noBias, l, Direction(d), g, ori, top)
				}
			}
		}
		if noBias && r.Ori["model.layers.0.self_attn.q_proj"].Output == r.Ori["model.layers.0.self_attn.o_proj"].Output {
			t.Fatal("suspicious: q and o outputs have the same maximum")
		}
	}
	// a sample beyond the plan is refused
	st, _ := NewStats(layers, counts, false)
	rec := NewRecorder(w, st, true)
	for _, s := range samples {
		if err := rec.Sample(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Sample(samples[0]); err == nil {
		t.Fatal("recording more than planned must fail")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
