package quant

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
)

// Golden digests of mllm's own quantize outputs (testdata/quant/make_golden.py).
type goldenTensor struct {
	Name   string `json:"name"`
	DType  int32  `json:"dtype"`
	Size   uint64 `json:"size"`
	Offset uint64 `json:"offset"`
	SHA256 string `json:"sha256"`
}

type goldenFile struct {
	File    string         `json:"file"`
	SHA256  string         `json:"sha256"`
	Bytes   int64          `json:"bytes"`
	Tensors []goldenTensor `json:"tensors"`
}

type golden struct {
	Files map[string]goldenFile `json:"files"`
	Input struct {
		File   string `json:"file"`
		SHA256 string `json:"sha256"`
	} `json:"input"`
}

func loadGolden(t *testing.T) (*golden, *mllmfmt.File) {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/quant/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	in, err := mllmfmt.Open("../../testdata/quant/" + g.Input.File)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return &g, in
}

func TestNearestInt(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want int
	}{
		{0, 0}, {0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {-2.5, -2},
		{0.49999997, 0}, {0.50000006, 1}, {-3.7, -4}, {127.5, 128}, {4194303, 4194303}, {-4194303, -4194303},
	} {
		if got := nearestInt(c.f); got != c.want {
			t.Errorf("nearestInt(%v) = %d, want %d", c.f, got, c.want)
		}
	}
}

// q8kSpec is the runtime spec §5.2 text, coded independently.
func q8kSpec(x []float32) []byte {
	out := make([]byte, 0, len(x)/QK_K*BlockQ8KBytes)
	for b := 0; b < len(x); b += QK_K {
		xs := x[b : b+QK_K]
		mx := xs[0]
		for _, v := range xs[1:] {
			if math.Abs(float64(v)) > math.Abs(float64(mx)) {
				mx = v
			}
		}
		blk := make([]byte, BlockQ8KBytes)
		if mx != 0 {
			iscale := float32(-128) / mx
			var sums [16]int16
			for j, v := range xs {
				p := iscale * v
				q := int(math.RoundToEven(float64(p)))
				if q > 127 {
					q = 127
				}
				blk[4+j] = byte(int8(q))
				sums[j/16] += int16(q)
			}
			binary.LittleEndian.PutUint32(blk, math.Float32bits(1/iscale))
			for g, s := range sums {
				binary.LittleEndian.PutUint16(blk[260+2*g:], uint16(s))
			}
		}
		out = append(out, blk...)
	}
	return out
}

func testInputs() map[string][]float32 {
	r := rand.New(rand.NewPCG(1, 2))
	gauss := make([]float32, 4*QK_K)
	for i := range gauss {
		gauss[i] = float32(r.NormFloat64()) * 0.02
	}
	uniform := make([]float32, 2*QK_K)
	for i := range uniform {
		uniform[i] = float32(r.Float64()*2-1) * 3
	}
	positive := make([]float32, QK_K)
	for i := range positive {
		positive[i] = 1 + float32(r.Float64())
	}
	outlier := make([]float32, QK_K)
	for i := range outlier {
		outlier[i] = float32(r.NormFloat64())
	}
	outlier[37], outlier[200] = 40, -55
	ties := make([]float32, QK_K) // equal magnitudes of both signs: the first wins
	for i := range ties {
		ties[i] = float32(i%5) - 2
	}
	ties[0] = -2
	halves := make([]float32, QK_K)
	for i := range halves {
		halves[i] = float32(i%17-8) * 0.5
	}
	return map[string][]float32{
		"gauss": gauss, "uniform": uniform, "positive": positive, "outlier": outlier,
		"ties": ties, "halves": halves, "zeros": make([]float32, QK_K),
	}
}

func TestQ8KMatchesSpec(t *testing.T) {
	for name, x := range testInputs() {
		got := make([]byte, len(x)/QK_K*BlockQ8KBytes)
		QuantizeQ8K(got, x)
		if want := q8kSpec(x); !bytes.Equal(got, want) {
			t.Errorf("%s: QuantizeQ8K differs from the spec algorithm", name)
		}
	}
}

// roundTrip returns dequantize(quantize(x)).
func roundTrip(t *testing.T, dt mllmfmt.DType, x []float32) []float32 {
	t.Helper()
	q, err := Quantize(dt, x)
	if err != nil {
		t.Fatal(err)
	}
	y, err := Dequantize(dt, q, len(x))
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// Error bounds of each format. With a = the group's max |x|, r = its
// max − min(min, 0), and for the K-quants S, M = the largest such a/nmax or
// r/15 and −min over the groups of the same 256-value super-block (whose
// 6- or 8-bit quantized group scales cost up to 16 or 32 steps of S/126 or
// S/128 at the clamped end):
//
//	Q8_0: |e| ≤ a/127·(0.5 + 2⁻¹⁰·127)      (half a step, plus fp16 rounding of d)
//	Q4_0: |e| ≤ a/8·(1 + 2⁻¹⁰·8)            (a full step at the clamped end)
//	Q8_K: |e| ≤ a/128                        (the clamp at 127 costs one step)
//	Q4_K: |e| ≤ r/15 + 16·S/126 + M/126      (groups of 32)
//	Q6_K: |e| ≤ 1.5·a/32 + 32·S/128          (groups of 16)
func TestRoundTripBounds(t *testing.T) {
	amax := func(xs []float32) float64 {
		m := 0.0
		for _, v := range xs {
			m = math.Max(m, math.Abs(float64(v)))
		}
		return m
	}
	rng := func(xs []float32) (r, negMin float64) {
		lo, hi := 0.0, math.Inf(-1)
		for _, v := range xs {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
		return hi - lo, -lo
	}
	superMax := func(sb []float32, group int, f func([]float32) (float64, float64)) (s, m float64) {
		for g := 0; g < len(sb); g += group {
			a, b := f(sb[g : g+group])
			s, m = math.Max(s, a), math.Max(m, b)
		}
		return s, m
	}
	cases := []struct {
		dt    mllmfmt.DType
		group int
		b     func(g, super []float32) float64
	}{
		{mllmfmt.Q8_0, 32, func(g, _ []float32) float64 { return amax(g) / 127 * (0.5 + 127.0/1024) }},
		{mllmfmt.Q4_0, 32, func(g, _ []float32) float64 { return amax(g) / 8 * (1 + 8.0/1024) }},
		{mllmfmt.Q8_K, 256, func(g, _ []float32) float64 { return amax(g) / 128 * (1 + 1e-6) }},
		{mllmfmt.Q4_K, 32, func(g, super []float32) float64 {
			r, _ := rng(g)
			s, m := superMax(super, 32, func(xs []float32) (float64, float64) { r, nm := rng(xs); return r / 15, nm })
			return r/15 + 16*s/126 + m/126
		}},
		{mllmfmt.Q6_K, 16, func(g, super []float32) float64 {
			s, _ := superMax(super, 16, func(xs []float32) (float64, float64) { return amax(xs) / 32, 0 })
			return 1.5*amax(g)/32 + 32*s/128
		}},
	}
	for name, x := range testInputs() {
		for _, c := range cases {
			y := roundTrip(t, c.dt, x)
			worst := 0.0
			for g := 0; g < len(x); g += c.group {
				sb := (g / QK_K) * QK_K
				lim := c.b(x[g:g+c.group], x[sb:sb+QK_K])
				for i := g; i < g+c.group; i++ {
					e := math.Abs(float64(x[i]) - float64(y[i]))
					if e > lim {
						t.Errorf("%s %v: element %d: |%v − %v| = %g exceeds the bound %g", name, c.dt, i, x[i], y[i], e, lim)
					}
					if lim > 0 {
						worst = math.Max(worst, e/lim)
					}
				}
			}
			t.Logf("%-8s %-5v worst error = %.3f of the bound", name, c.dt, worst)
		}
	}
}

// Whole-tensor quantization is the same whatever the number of cores.
func TestQuantizeDeterministicAcrossCores(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	x := make([]float32, 300*QK_K)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	for _, f := range Formats() {
		serial := make([]byte, len(x)/f.BlockElems*f.BlockBytes)
		f.Quantize(serial, x)
		for _, procs := range []int{1, 3, 8} {
			runtime.GOMAXPROCS(procs)
			got, err := Quantize(f.DType, x)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, serial) {
				t.Errorf("%v with GOMAXPROCS=%d differs from a serial run", f.DType, procs)
			}
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	if _, err := Quantize(mllmfmt.Q4_K, make([]float32, 100)); err == nil {
		t.Error("Q4_K accepted 100 values")
	}
	x := make([]float32, 32)
	x[5] = float32(math.NaN())
	if _, err := Quantize(mllmfmt.Q4_0, x); err == nil {
		t.Error("Q4_0 accepted a NaN")
	}
	if _, err := Quantize(mllmfmt.I8, x); err == nil {
		t.Error("Quantize accepted dtype I8")
	}
	if _, err := Dequantize(mllmfmt.Q8_0, make([]byte, 33), 32); err == nil {
		t.Error("Dequantize accepted 33 bytes of Q8_0")
	}
	defer func() {
		if recover() == nil {
			t.Error("QuantizeQ4K with a short dst did not panic")
		}
	}()
	QuantizeQ4K(make([]byte, 10), make([]float32, QK_K))
}

func TestBlockSizesAgreeWithMLLMFmt(t *testing.T) {
	for dt, f := range Formats() {
		e, b, ok := dt.BlockSize()
		if !ok || e != f.BlockElems || b != f.BlockBytes {
			t.Errorf("%v: quant says %d/%d bytes, mllmfmt says %d/%d (%v)", dt, f.BlockElems, f.BlockBytes, e, b, ok)
		}
	}
}

func FuzzBlockRoundTrip(f *testing.F) {
	f.Add(uint64(1), float32(1))
	f.Add(uint64(2), float32(1e-3))
	f.Add(uint64(3), float32(100))
	f.Fuzz(func(t *testing.T, seed uint64, mag float32) {
		if !(mag > 1e-4 && mag < 1e4) {
			return
		}
		r := rand.New(rand.NewPCG(seed, seed^0x9e3779b9))
		x := make([]float32, QK_K)
		for i := range x {
			x[i] = float32(r.NormFloat64()) * mag
		}
		for _, fm := range Formats() {
			q, err := Quantize(fm.DType, x)
			if err != nil {
				t.Fatal(err)
			}
			y, err := Dequantize(fm.DType, q, len(x))
			if err != nil {
				t.Fatal(err)
			}
			var a float64
			for _, v := range x {
				a = math.Max(a, math.Abs(float64(v)))
			}
			// a/4 bounds every format's error with normal fp16 scales;
			// slack covers fp16 subnormal scales (absolute error up to
			// 2⁻²⁵ in d, times at most 127·32 in Q6_K).
			const slack = 127.0 * 32 / (1 << 25)
			for i := range x {
				if e := math.Abs(float64(x[i] - y[i])); e > a/4+slack {
					t.Fatalf("%v: element %d: %v → %v (amax %g)", fm.DType, i, x[i], y[i], a)
				}
			}
		}
	})
}
