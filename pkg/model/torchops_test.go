package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// torchOpsCase is one entry of testdata/model/torch_ops.json (written by
// scripts/gen_torchops_goldens.py with torch 1.13 on AVX2).
type torchOpsCase struct {
	Name  string  `json:"name"`
	N     int     `json:"n"`
	Valid int     `json:"valid"`
	D     int     `json:"d"`
	Rows  int     `json:"rows"`
	Eps   float64 `json:"eps"`
	In    int     `json:"in"`
	NIn   int     `json:"n_in"`
	Out   int     `json:"out"`
	NOut  int     `json:"n_out"`
}

func loadTorchOps(t *testing.T) ([]torchOpsCase, []float32) {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "model")
	var idx struct {
		Cases []torchOpsCase `json:"cases"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "torch_ops.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "torch_ops.f32"))
	if err != nil {
		t.Fatal(err)
	}
	f := make([]float32, len(raw)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return idx.Cases, f
}

// sameBits reports the first element where got and want differ in their
// bits (NaNs compare equal), or -1.
func sameBits(got, want []float32) int {
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			return i
		}
	}
	return -1
}

// TestOpsMatchTorchBits checks that exp, SiLU, softmax (plain and masked as
// HF's attention does it) and RMSNorm give torch's float32 results bit for
// bit, on inputs spanning their ranges and row lengths around the 8-lane
// vector width.
func TestOpsMatchTorchBits(t *testing.T) {
	cases, f := loadTorchOps(t)
	counts := map[string]int{}
	for i, c := range cases {
		in, want := f[c.In:c.In+c.NIn], f[c.Out:c.Out+c.NOut]
		got := make([]float32, c.NOut)
		switch c.Name {
		case "exp":
			for j, v := range in {
				got[j] = expf(v)
			}
		case "silu":
			for j, v := range in {
				got[j] = SiLU(v)
			}
		case "softmax":
			copy(got, in)
			Softmax(got)
		case "masked":
			copy(got, in)
			SoftmaxPrefix(got, c.N)
		case "rmsnorm":
			RMSNorm(got, in[c.D:], in[:c.D], c.Rows, c.Eps)
		default:
			t.Fatalf("case %d: unknown op %q", i, c.Name)
		}
		if j := sameBits(got, want); j >= 0 {
			var x float32
			if c.Name != "rmsnorm" && j < len(in) {
				x = in[j]
			}
			t.Errorf("case %d (%s n=%d valid=%d d=%d): element %d = %v (%#08x), torch %v (%#08x); input %v",
				i, c.Name, c.N, c.Valid, c.D, j, got[j], math.Float32bits(got[j]), want[j], math.Float32bits(want[j]), x)
		}
		counts[c.Name] += c.NOut
	}
	for _, op := range []string{"exp", "silu", "softmax", "masked", "rmsnorm"} {
		if counts[op] == 0 {
			t.Errorf("no %s cases in torch_ops.json", op)
		}
	}
	t.Log(fmt.Sprint(counts))
}

// TestFMA32 checks the float32 fused multiply-add against exact rounding
// (math/big), on sums whose float64 rounding lands exactly halfway between
// two float32 values (where converting the float64 sum would round twice,
// the wrong way) and on random operands.
func TestFMA32(t *testing.T) {
	p := func(e int) float64 { return math.Ldexp(1, e) }
	cases := []struct {
		name    string
		a, b, c float32
	}{
		// a·b = 2^-24·(1+2^-36), c = 1: the exact sum is just above the
		// halfway point 1+2^-24, the float64 sum is that point.
		{"above halfway", float32((1 + p(-12)) * p(-12)), float32((1 - p(-12) + p(-24)) * p(-12)), 1},
		// a·b = 2^-24·(1−2^-36), c = 1+2^-23: just below the halfway point
		// 1+3·2^-24, whose even neighbour is above.
		{"below halfway", float32((1 + p(-18)) * p(-12)), float32((1 - p(-18)) * p(-12)), float32(1 + p(-23))},
		{"negative above halfway", float32((1 + p(-12)) * p(-12)), -float32((1 - p(-12) + p(-24)) * p(-12)), -1},
		{"exact tie stays even", float32(p(-12)), float32(p(-12)), 1},
		{"plain", 3, 0.5, 0.25},
	}
	for _, c := range cases {
		want := exactFMA32(c.a, c.b, c.c)
		naive := float32(float64(c.a)*float64(c.b) + float64(c.c))
		if got := fma32(c.a, c.b, c.c); got != want {
			t.Errorf("%s: fma32(%g, %g, %g) = %.10g, want %.10g", c.name, c.a, c.b, c.c, got, want)
		}
		if strings.Contains(c.name, "halfway") && naive == want {
			t.Errorf("%s: not a double-rounding case (the float64 sum rounds right)", c.name)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100000; i++ {
		x := float32(rng.NormFloat64())
		y := float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(40)-20))
		z := float32(rng.NormFloat64())
		if got, want := fma32(x, y, z), exactFMA32(x, y, z); got != want {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", x, y, z, got, want)
		}
	}
}

// exactFMA32 is a·b + c rounded once to float32 (nearest, ties to even).
func exactFMA32(a, b, c float32) float32 {
	x := new(big.Float).SetPrec(200).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}
