package runtime

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// goldens is testdata/runtime/goldens.json, written by
// scripts/gen_runtime_goldens.py from independent NumPy implementations of
// the spec (float32 values as uint32 bits).
type goldens struct {
	VecDotF16 []struct {
		X, Y []uint32
		Dot  uint32
	} `json:"vec_dot_f16"`
	Quantize struct {
		Range  uint32
		X      []uint32
		ByBits map[string]struct {
			Step   uint32
			CPU    []int16 `json:"cpu"`
			HTPRef []int16 `json:"htp_ref"`
			HTPHVX []int16 `json:"htp_hvx"`
		} `json:"by_bits"`
	}
	RMSNorm struct {
		X, W   []uint32
		CPU    []uint32 `json:"cpu"`
		HTPRef []uint32 `json:"htp_ref"`
	} `json:"rmsnorm"`
}

func floats(b []uint32) []float32 {
	out := make([]float32, len(b))
	for i, v := range b {
		out[i] = math.Float32frombits(v)
	}
	return out
}

func loadGoldens(t *testing.T) *goldens {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/runtime/goldens.json")
	if err != nil {
		t.Fatal(err)
	}
	var g goldens
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

func TestGoldens(t *testing.T) {
	g := loadGoldens(t)
	if len(g.VecDotF16) == 0 || len(g.Quantize.ByBits) != 2 || len(g.RMSNorm.X) == 0 {
		t.Fatalf("goldens incomplete")
	}
	for i, c := range g.VecDotF16 {
		x, y := floats(c.X), floats(c.Y)
		if got := VecDotF16(x, y, len(x)); math.Float32bits(got) != c.Dot {
			t.Errorf("vec_dot_f16 case %d (n=%d): %v, numpy %v", i, len(x), got, math.Float32frombits(c.Dot))
		}
	}
	x := floats(g.Quantize.X)
	r := math.Float32frombits(g.Quantize.Range)
	for name, q := range g.Quantize.ByBits {
		bits := 8
		if name == "16" {
			bits = 16
		}
		step := StepBits(r, bits)
		if math.Float32bits(step) != q.Step {
			t.Errorf("%d-bit step %v, numpy %v", bits, step, math.Float32frombits(q.Step))
		}
		got := make([]int16, len(x))
		for _, tc := range []struct {
			name string
			run  func()
			want []int16
		}{
			{"cpu", func() { QuantizeCPU(got, x, step, bits) }, q.CPU},
			{"htp ref", func() { QuantizeHTP(got, x, step, bits, RoundRef) }, q.HTPRef},
			{"htp hvx", func() { QuantizeHTP(got, x, step, bits, RoundHVX) }, q.HTPHVX},
		} {
			tc.run()
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("%d-bit %s quantize of %v: %d, numpy %d", bits, tc.name, x[i], got[i], tc.want[i])
				}
			}
		}
	}
	xr, w := floats(g.RMSNorm.X), floats(g.RMSNorm.W)
	for _, tc := range []struct {
		kind RMSNormKind
		want []uint32
	}{{NormCPU, g.RMSNorm.CPU}, {NormHTPRef, g.RMSNorm.HTPRef}} {
		got := make([]float32, len(xr))
		RMSNorm(tc.kind, got, xr, w, 1, 1e-6)
		for i := range got {
			if math.Float32bits(got[i]) != tc.want[i] {
				t.Fatalf("rmsnorm kind %d element %d: %v, numpy %v", tc.kind, i, got[i], math.Float32frombits(tc.want[i]))
			}
		}
	}
}
