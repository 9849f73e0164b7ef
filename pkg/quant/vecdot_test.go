package quant

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand"
	"os"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// randQ4K fills nb random Q4_K blocks (random scales, mins, nibbles and
// finite fp16 super-scales).
func randQ4K(r *rand.Rand, nb int) []byte {
	b := make([]byte, nb*BlockQ4KBytes)
	r.Read(b)
	for i := 0; i < nb; i++ {
		x := b[i*BlockQ4KBytes:]
		binary.LittleEndian.PutUint16(x[0:], tensor.F32ToF16(float32(r.Float64()*0.01)))
		binary.LittleEndian.PutUint16(x[2:], tensor.F32ToF16(float32(r.Float64()*0.01)))
	}
	return b
}

// randQ8K fills nb random Q8_K blocks with consistent bsums; extreme
// selects only ±127/-128 codes.
func randQ8K(r *rand.Rand, nb int, extreme bool) []byte {
	b := make([]byte, nb*BlockQ8KBytes)
	for i := 0; i < nb; i++ {
		y := b[i*BlockQ8KBytes:]
		binary.LittleEndian.PutUint32(y, math.Float32bits(float32(r.NormFloat64())))
		for l := 0; l < QK_K; l++ {
			v := int8(r.Intn(256) - 128)
			if extreme {
				v = []int8{-128, 127}[r.Intn(2)]
			}
			y[4+l] = byte(v)
		}
		for g := 0; g < 16; g++ {
			var s int16
			for l := 0; l < 16; l++ {
				s += int16(int8(y[4+16*g+l]))
			}
			binary.LittleEndian.PutUint16(y[4+QK_K+2*g:], uint16(s))
		}
	}
	return b
}

func randQ80(r *rand.Rand, nb int, extreme bool) []byte {
	b := make([]byte, nb*BlockQ8_0Bytes)
	r.Read(b)
	for i := 0; i < nb; i++ {
		x := b[i*BlockQ8_0Bytes:]
		binary.LittleEndian.PutUint16(x, tensor.F32ToF16(float32(r.NormFloat64())))
		if extreme {
			for l := 0; l < 32; l++ {
				x[2+l] = byte([]int8{-128, 127}[r.Intn(2)])
			}
		}
	}
	return b
}

func randQ40(r *rand.Rand, nb int) []byte {
	b := make([]byte, nb*BlockQ4_0Bytes)
	r.Read(b)
	for i := 0; i < nb; i++ {
		binary.LittleEndian.PutUint16(b[i*BlockQ4_0Bytes:], tensor.F32ToF16(float32(r.NormFloat64())))
	}
	return b
}

func TestVecDotSIMDEqualsScalar(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, nb := range []int{1, 2, 3, 17, 40} {
		for _, extreme := range []bool{false, true} {
			for rep := 0; rep < 20; rep++ {
				w := randQ4K(r, nb)
				if extreme {
					for i := 0; i < nb; i++ {
						for l := 0; l < 128; l++ {
							w[i*BlockQ4KBytes+16+l] = 0xFF
						}
						for l := 4; l < 16; l++ {
							w[i*BlockQ4KBytes+l] = 0xFF
						}
					}
				}
				a := randQ8K(r, nb, extreme)
				got, want := VecDotQ4KQ8K(nb*QK_K, w, a), VecDotQ4KQ8KRef(nb*QK_K, w, a)
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("q4_K nb=%d extreme=%v: simd %v != scalar %v", nb, extreme, got, want)
				}
			}
		}
	}
	for _, nb := range []int{2, 4, 22, 64, 70} {
		for _, extreme := range []bool{false, true} {
			for rep := 0; rep < 20; rep++ {
				a := randQ80(r, nb, extreme)
				w8 := randQ80(r, nb, extreme)
				if got, want := VecDotQ8_0Q8_0(nb*32, w8, a), VecDotQ8_0Q8_0Ref(nb*32, w8, a); math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("q8_0 nb=%d: simd %v != scalar %v", nb, got, want)
				}
				w4 := randQ40(r, nb)
				if got, want := VecDotQ4_0Q8_0(nb*32, w4, a), VecDotQ4_0Q8_0Ref(nb*32, w4, a); math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("q4_0 nb=%d: simd %v != scalar %v", nb, got, want)
				}
			}
		}
	}
}

// TestVecDotQ4KHandComputed builds one block whose value is easy to work
// out by hand: d = 1, dmin = 0.5, every sub-block scale 2 and min 3, every
// nibble 5, every q8 code 1, y.d = 0.25.
// Σ over 256 values of (d·2·5 − dmin·3)·(0.25·1) = 256·(10 − 1.5)·0.25 = 544.
func TestVecDotQ4KHandComputed(t *testing.T) {
	w := make([]byte, BlockQ4KBytes)
	binary.LittleEndian.PutUint16(w[0:], tensor.F32ToF16(1))
	binary.LittleEndian.PutUint16(w[2:], tensor.F32ToF16(0.5))
	for j := 0; j < 4; j++ {
		w[4+j] = 2         // scales j<4
		w[8+j] = 3         // mins j<4
		w[12+j] = 2 | 3<<4 // j>=4: low nibble scale, high nibble min
	}
	for l := 0; l < 128; l++ {
		w[16+l] = 5 | 5<<4
	}
	a := make([]byte, BlockQ8KBytes)
	binary.LittleEndian.PutUint32(a, math.Float32bits(0.25))
	for l := 0; l < QK_K; l++ {
		a[4+l] = 1
	}
	for g := 0; g < 16; g++ {
		binary.LittleEndian.PutUint16(a[4+QK_K+2*g:], 16)
	}
	for name, f := range map[string]func(int, []byte, []byte) float32{"simd": VecDotQ4KQ8K, "ref": VecDotQ4KQ8KRef} {
		if got := f(QK_K, w, a); got != 544 {
			t.Errorf("%s: got %v, want 544", name, got)
		}
	}
}

// TestVecDotMatchesDequantized checks the dot products against float
// dot products of the dequantized blocks (a semantic check of the block
// layouts; the tolerance is float32 rounding only).
func TestVecDotMatchesDequantized(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	n := 4 * QK_K
	x := make([]float32, n)
	y := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
		y[i] = float32(r.NormFloat64())
	}
	check := func(name string, got float32, wf, af []float32) {
		var ref, mag float64
		for i := range wf {
			ref += float64(wf[i]) * float64(af[i])
			mag += math.Abs(float64(wf[i]) * float64(af[i]))
		}
		if math.Abs(float64(got)-ref) > 1e-5*mag {
			t.Errorf("%s: got %v, dequantized dot %v", name, got, ref)
		}
	}
	wq := make([]byte, n/QK_K*BlockQ4KBytes)
	aq := make([]byte, n/QK_K*BlockQ8KBytes)
	QuantizeQ4K(wq, x)
	QuantizeQ8K(aq, y)
	wf, af := make([]float32, n), make([]float32, n)
	DequantizeQ4K(wf, wq)
	DequantizeQ8K(af, aq)
	check("q4_K·q8_K", VecDotQ4KQ8K(n, wq, aq), wf, af)

	w0 := make([]byte, n/32*BlockQ4_0Bytes)
	w8 := make([]byte, n/32*BlockQ8_0Bytes)
	a8 := make([]byte, n/32*BlockQ8_0Bytes)
	QuantizeQ4_0(w0, x)
	QuantizeQ8_0(w8, x)
	QuantizeQ8_0(a8, y)
	DequantizeQ8_0(af, a8)
	DequantizeQ4_0(wf, w0)
	check("q4_0·q8_0", VecDotQ4_0Q8_0(n, w0, a8), wf, af)
	DequantizeQ8_0(wf, w8)
	check("q8_0·q8_0", VecDotQ8_0Q8_0(n, w8, a8), wf, af)
}

func BenchmarkVecDotQ4KQ8K(b *testing.B) {
	r := rand.New(rand.NewSource(3))
	w := randQ4K(r, 8)
	a := randQ8K(r, 8, false)
	b.Run(VecDotImpl(), func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			VecDotQ4KQ8K(8*QK_K, w, a)
		}
	})
	b.Run("scalar", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			VecDotQ4KQ8KRef(8*QK_K, w, a)
		}
	})
}

// TestVecDotQ4KGoldens checks vec_dot_q4_K_q8_K against an independent
// NumPy implementation of the spec (scripts/gen_runtime_goldens.py) on
// blocks of mllm's own Q4_K file for tinyqwen2, with Q8_K activations from
// the NumPy quantize_row_q8_K_reference (which QuantizeQ8K must reproduce).
func TestVecDotQ4KGoldens(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/runtime/goldens.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Q4KQ8K []struct {
			W, A string
			X    []uint32
			Dot  uint32
		} `json:"q4k_q8k"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Q4KQ8K) == 0 {
		t.Fatal("no q4k_q8k goldens")
	}
	for i, c := range g.Q4KQ8K {
		w, _ := hex.DecodeString(c.W)
		a, _ := hex.DecodeString(c.A)
		x := make([]float32, len(c.X))
		for j, b := range c.X {
			x[j] = math.Float32frombits(b)
		}
		q := make([]byte, len(a))
		QuantizeQ8K(q, x)
		if !bytes.Equal(q, a) {
			t.Errorf("case %d: QuantizeQ8K differs from the NumPy reference", i)
		}
		for name, f := range map[string]func(int, []byte, []byte) float32{"simd": VecDotQ4KQ8K, "ref": VecDotQ4KQ8KRef} {
			if got := f(len(x), w, a); math.Float32bits(got) != c.Dot {
				t.Errorf("case %d %s: %v, numpy %v", i, name, got, math.Float32frombits(c.Dot))
			}
		}
	}
}
