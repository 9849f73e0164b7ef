package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// rempitabspPrec is the working precision of computeRempitabsp (bits).
const rempitabspPrec = 1200

// computeRempitabsp computes SLEEF's float table Sleef_rempitabsp from 1/(2π)
// the way SLEEF 3.5.1's table was made (checked entry by entry against the
// table inside Debian's libsleef.so.3): row k serves arguments with
// ilogb = k+25 (row 0 also smaller ones), rows above 65 for arguments
// scaled by 2^-64. The row holds c = frac(2^(k+2)/(2π))/2^(k+2) (times 2^64
// for the scaled rows, so that a·c ≡ a/(2π) modulo whole turns) as four
// float32 terms: each of the first three is c's remainder rounded to double
// then to float32 with the two lowest significand bits cleared, the last is
// the remaining double with its lowest bit cleared, rounded to float32.
func computeRempitabsp() []float32 {
	const prec = rempitabspPrec
	newF := func() *big.Float { return new(big.Float).SetPrec(prec) }
	// π by Machin's formula: 16·atan(1/5) − 4·atan(1/239), in fixed point.
	atanInv := func(x int64) *big.Int {
		one := new(big.Int).Lsh(big.NewInt(1), prec+32)
		x2 := big.NewInt(x * x)
		term := new(big.Int).Quo(one, big.NewInt(x))
		sum := new(big.Int).Set(term)
		for n, sign := int64(3), -1; term.Sign() != 0; n, sign = n+2, -sign {
			term.Quo(term, x2)
			t := new(big.Int).Quo(term, big.NewInt(n))
			if sign < 0 {
				sum.Sub(sum, t)
			} else {
				sum.Add(sum, t)
			}
		}
		return sum
	}
	pi := new(big.Int).Mul(atanInv(5), big.NewInt(16))
	pi.Sub(pi, new(big.Int).Mul(atanInv(239), big.NewInt(4)))
	piF := newF().SetMantExp(newF().SetInt(pi), -(prec + 32))
	rpi := newF().Quo(newF().SetFloat64(0.5), piF)

	var tab []float32
	for i := 25; i < 128; i++ {
		scale := 0
		if i > 90 {
			scale = 64
		}
		ex := i - 23
		y := newF().SetMantExp(rpi, ex) // 2^ex/(2π)
		whole, _ := y.Int(nil)
		y.Sub(y, newF().SetInt(whole))
		r := newF().SetMantExp(y, scale-ex)
		for j := 0; j < 3; j++ {
			d, _ := r.Float64()
			f := math.Float32frombits(math.Float32bits(float32(d)) &^ 3)
			tab = append(tab, f)
			r.Sub(r, newF().SetFloat64(float64(f)))
		}
		d, _ := r.Float64()
		tab = append(tab, float32(math.Float64frombits(math.Float64bits(d)&^1)))
	}
	return tab
}

// TestRempitabsp recomputes the Payne–Hanek table from π and compares it
// with sleefRempitabsp, and with the table's bits as read out of
// libsleef.so.3 (testdata/model/sleef.json).
func TestRempitabsp(t *testing.T) {
	want := computeRempitabsp()
	if len(want) != len(sleefRempitabsp) {
		t.Fatalf("computed %d entries, sleefRempitabsp has %d", len(want), len(sleefRempitabsp))
	}
	bad := 0
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(sleefRempitabsp[i]) {
			if bad++; bad <= 5 {
				t.Errorf("row %d term %d: table %v, computed %v", i/4, i%4, sleefRempitabsp[i], want[i])
			}
		}
	}
	if bad > 0 {
		var b strings.Builder
		for i := 0; i < len(want); i += 4 {
			fmt.Fprintf(&b, "\t%s, %s, %s, %s,\n", hexf32(want[i]), hexf32(want[i+1]), hexf32(want[i+2]), hexf32(want[i+3]))
		}
		t.Logf("computed table:\n%s", b.String())
	}
	g := loadSleefGolden(t)
	if len(g.Tab) != len(sleefRempitabsp) {
		t.Fatalf("libsleef table has %d entries, sleefRempitabsp %d", len(g.Tab), len(sleefRempitabsp))
	}
	for i, b := range g.Tab {
		if b != math.Float32bits(sleefRempitabsp[i]) {
			t.Errorf("row %d term %d: table %v, libsleef %v", i/4, i%4, sleefRempitabsp[i], math.Float32frombits(b))
		}
	}
}

// sleefGolden is testdata/model/sleef.json with its sleef_sincos.u32
// (scripts/gen_model_goldens.py rope).
type sleefGolden struct {
	Tab             []uint32 // Sleef_rempitabsp's bits read out of libsleef.so.3
	X, Sin, Cos     []float32
	PowX, PowY, Pow []float32
}

func loadSleefGolden(t *testing.T) sleefGolden {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/model/sleef.json")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Tab    []uint32          `json:"rempitabsp_bits"`
		File   string            `json:"file"`
		Arrays map[string][2]int `json:"arrays"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	blob, err := os.ReadFile("../../testdata/model/" + meta.File)
	if err != nil {
		t.Fatal(err)
	}
	arr := func(name string) []float32 {
		a, ok := meta.Arrays[name]
		if !ok || a[1] <= 0 || 4*(a[0]+a[1]) > len(blob) {
			t.Fatalf("sleef.json: array %q is %v, %s has %d bytes", name, a, meta.File, len(blob))
		}
		out := make([]float32, a[1])
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(blob[4*(a[0]+i):]))
		}
		return out
	}
	g := sleefGolden{Tab: meta.Tab, X: arr("sincos_x"), Sin: arr("sin"), Cos: arr("cos"),
		PowX: arr("pow_x"), PowY: arr("pow_y"), Pow: arr("pow")}
	if len(g.X)%8 != 0 || len(g.Sin) != len(g.X) || len(g.Cos) != len(g.X) || len(g.PowY) != len(g.PowX) || len(g.Pow) != len(g.PowX) {
		t.Fatalf("sleef.json: array lengths %d %d %d, %d %d %d", len(g.X), len(g.Sin), len(g.Cos), len(g.PowX), len(g.PowY), len(g.Pow))
	}
	return g
}

// TestSleefPowfMatchesTorch compares sleefPowf with torch.pow (SLEEF's
// Sleef_powf8_u10 on AVX2), bit for bit.
func TestSleefPowfMatchesTorch(t *testing.T) {
	g := loadSleefGolden(t)
	bad := 0
	for i, x := range g.PowX {
		y := g.PowY[i]
		if got := sleefPowf(x, y); math.Float32bits(got) != math.Float32bits(g.Pow[i]) {
			if bad++; bad <= 10 {
				t.Errorf("pow(%v, %v) = %v, torch %v", x, y, got, g.Pow[i])
			}
		}
	}
	t.Logf("%d powers, %d differ", len(g.PowX), bad)
}

// TestSleefSinCosMatchesTorch compares sleefSinCos with torch's sin/cos
// (SLEEF's Sleef_sinf8_u10/Sleef_cosf8_u10 on AVX2) on 8-lane vectors that
// take either reduction path: bit for bit, except that a NaN result only
// has to be a NaN (SLEEF's NaN payloads are not reproduced).
func TestSleefSinCosMatchesTorch(t *testing.T) {
	g := loadSleefGolden(t)
	sin := make([]float32, len(g.X))
	cos := make([]float32, len(g.X))
	sleefSinCos(g.X, sin, cos)
	same := func(a, b float32) bool {
		if math.IsNaN(float64(b)) {
			return math.IsNaN(float64(a))
		}
		return math.Float32bits(a) == math.Float32bits(b)
	}
	bad, large := 0, 0
	for v := 0; v < len(g.X); v += 8 {
		lanes := g.X[v : v+8]
		if sleefNeedsRempi(lanes) {
			large += 8
		}
		for i := v; i < v+8; i++ {
			if !same(sin[i], g.Sin[i]) || !same(cos[i], g.Cos[i]) {
				if bad++; bad <= 10 {
					t.Errorf("x = %v (%#08x) in vector %v: sin %v cos %v, torch %v %v", g.X[i], math.Float32bits(g.X[i]), lanes,
						sin[i], cos[i], g.Sin[i], g.Cos[i])
				}
			}
		}
	}
	t.Logf("%d lanes (%d in vectors on the large-argument path), %d differ", len(g.X), large, bad)
	if large == 0 || large == len(g.X) {
		t.Errorf("the goldens do not exercise both paths (%d of %d lanes large)", large, len(g.X))
	}
}

// TestSleefVectorGrouping checks that the reduction path is chosen per
// 8-lane vector: a small angle gives torch's result for its vector, which
// differs from the same angle in an all-small vector for some angles.
func TestSleefVectorGrouping(t *testing.T) {
	g := loadSleefGolden(t)
	differs := 0
	for v := 0; v < len(g.X); v += 8 {
		lanes := g.X[v : v+8]
		if !sleefNeedsRempi(lanes) {
			continue
		}
		for i, d := range lanes {
			if !(abs32(d) < sleefTrigRangeMax2) {
				continue
			}
			var s, c [1]float32
			sleefSinCos([]float32{d}, s[:], c[:])
			if s[0] != g.Sin[v+i] || c[0] != g.Cos[v+i] {
				differs++
			}
		}
	}
	if differs == 0 {
		t.Error("no small angle in a large vector differs from its small-path result: the goldens do not test grouping")
	}
	t.Logf("%d small angles in large vectors come out differently on the small path", differs)
}

// TestFMAF checks fmaf against exact rounding, including results below
// 2^-126 (subnormal and halfway cases there) where fma32 is not meant to
// be used.
func TestFMAF(t *testing.T) {
	p := func(e int) float64 { return math.Ldexp(1, e) }
	cases := []struct {
		name    string
		a, b, c float32
	}{
		{"normal above halfway", float32((1 + p(-12)) * p(-12)), float32((1 - p(-12) + p(-24)) * p(-12)), 1},
		// a·b = ∓2^-150·(1−2^-32) (exact: (1−2^-16)(1+2^-16)), c an odd
		// multiple of 2^-149 below 2^-126: the float64 sum is exactly
		// halfway between two float32 subnormals and would round to the
		// even one; the exact sum is on the other side.
		{"subnormal above halfway", -float32((1 - p(-16)) * p(-75)), float32((1 + p(-16)) * p(-75)), float32((p(22) + 1) * p(-149))},
		{"subnormal below halfway", float32((1 - p(-16)) * p(-75)), float32((1 + p(-16)) * p(-75)), float32((p(22) + 1) * p(-149))},
		{"subnormal tie stays even", float32(p(-75)), float32(p(-75)), float32((p(22) + 1) * p(-149))},
		{"underflow to zero", float32(p(-80)), float32(p(-80)), 0},
		{"negative subnormal", -float32((1 + p(-20)) * p(-75)), float32(p(-75)), -float32(p(-148))},
		{"exact zero", 3, -2, 6},
		{"negative zero", float32(math.Copysign(0, -1)), 1, float32(math.Copysign(0, -1))},
	}
	for _, c := range cases {
		want := exactFMA32(c.a, c.b, c.c)
		if got := fmaf(c.a, c.b, c.c); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("%s: fmaf(%g, %g, %g) = %g, want %g", c.name, c.a, c.b, c.c, got, want)
		}
		naive := float32(float64(c.a)*float64(c.b) + float64(c.c))
		if strings.Contains(c.name, "halfway") && naive == want {
			t.Errorf("%s: not a double-rounding case (the float64 sum rounds right)", c.name)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100000; i++ {
		x := float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(120)-100))
		y := float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(120)-100))
		z := float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(60)-170))
		if got, want := fmaf(x, y, z), exactFMA32(x, y, z); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fmaf(%g, %g, %g) = %g, want %g", x, y, z, got, want)
		}
	}
}

// TestRoPEApplyCache checks that Apply's cached rows give the same result
// as computing each row afresh, for overlapping, shifted and repeated
// position ranges and after InvFreq changes.
func TestRoPEApplyCache(t *testing.T) {
	const heads = 3
	for _, hd := range []int{64, 40} {
		r := NewRoPE(10000, hd)
		rng := rand.New(rand.NewPCG(5, uint64(hd)))
		ranges := []struct{ pos0, rows int }{{0, 200}, {100, 50}, {190, 20}, {1249, 3}, {1249, 3}, {1250, 1}, {5, 0}}
		for k, rg := range ranges {
			if k == 4 {
				r.InvFreq[0] = 0.5
			}
			x := make([]float32, rg.rows*heads*hd)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			got := append([]float32(nil), x...)
			r.Apply(got, rg.rows, heads, rg.pos0)
			cos := make([]float32, hd)
			sin := make([]float32, hd)
			h := hd / 2
			for row := 0; row < rg.rows; row++ {
				r.CosSinRow(rg.pos0+row, cos, sin)
				for hh := 0; hh < heads; hh++ {
					v := x[(row*heads+hh)*hd:]
					g := got[(row*heads+hh)*hd:]
					for i := 0; i < h; i++ {
						w0 := float32(v[i]*cos[i]) - float32(v[i+h]*sin[i])
						w1 := float32(v[i+h]*cos[i+h]) + float32(v[i]*sin[i+h])
						if g[i] != w0 || g[i+h] != w1 {
							t.Fatalf("hd %d range %d (pos0 %d rows %d) row %d head %d dim %d: %v %v, want %v %v",
								hd, k, rg.pos0, rg.rows, row, hh, i, g[i], g[i+h], w0, w1)
						}
					}
				}
			}
		}
	}
}

// BenchmarkRoPECosSinRow measures one position's cos/sin row (SLEEF
// emulation), reporting ns per position; positions cycle through 0..4095.
func BenchmarkRoPECosSinRow(b *testing.B) {
	for _, hd := range []int{64, 128} {
		b.Run(strconv.Itoa(hd), func(b *testing.B) {
			r := NewRoPE(1e6, hd)
			cos := make([]float32, hd)
			sin := make([]float32, hd)
			for i := 0; i < b.N; i++ {
				r.CosSinRow(i%4096, cos, sin)
			}
		})
	}
}

// BenchmarkRoPEApply measures Apply on q of a 14-head model (head_dim 64)
// for 512 rows, as one layer of a prefill calls it: the rows' cos/sin come
// from the cache after the first call.
func BenchmarkRoPEApply(b *testing.B) {
	const rows, heads, hd = 512, 14, 64
	r := NewRoPE(1e6, hd)
	x := make([]float32, rows*heads*hd)
	for i := range x {
		x[i] = float32(i%17) - 8
	}
	for i := 0; i < b.N; i++ {
		r.Apply(x, rows, heads, 0)
	}
}

// hexf32 formats f as a Go hexadecimal float literal that converts to f.
func hexf32(f float32) string {
	return strconv.FormatFloat(float64(f), 'x', -1, 32)
}
