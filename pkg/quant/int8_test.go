package quant

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestInt8TestVectors(t *testing.T) {
	cases := []struct {
		name      string
		w         []float32
		out, in   int
		trueDiv   bool
		scaleBits uint32
		q         []int8
		stored    []byte
	}{
		{ // TV1: ties to even and transposition.
			name: "TV1", out: 3, in: 3,
			w:         []float32{127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -127},
			scaleBits: 0x3F800000,
			q:         []int8{127, 0, 2, 2, 0, -2, -2, 126, -127},
			stored:    []byte{0x7F, 0x02, 0xFE, 0x00, 0x00, 0x7E, 0x02, 0xFE, 0x81},
		},
		{ // TV2: ordinary values.
			name: "TV2", out: 2, in: 3,
			w:         []float32{0.1, -0.2, 0.3, 0.4, -0.5, 0.05},
			scaleBits: 0x3B810204,
			q:         []int8{25, -51, 76, 102, -127, 13},
			stored:    []byte{0x19, 0x66, 0xCD, 0x81, 0x4C, 0x0D},
		},
		{ // TV3: CUDA reciprocal scale.
			name: "TV3-cuda", out: 2, in: 2,
			w:         []float32{0.31, -0.1, 0.2, 0.05},
			scaleBits: 0x3B1FF842,
			q:         []int8{127, -41, 82, 20},
			stored:    []byte{0x7F, 0x52, 0xD7, 0x14},
		},
		{ // TV3: true division.
			name: "TV3-truediv", out: 2, in: 2, trueDiv: true,
			w:         []float32{0.31, -0.1, 0.2, 0.05},
			scaleBits: 0x3B1FF843,
			q:         []int8{127, -41, 82, 20},
			stored:    []byte{0x7F, 0x52, 0xD7, 0x14},
		},
		{ // TV4: all zeros, both semantics.
			name: "TV4", out: 2, in: 2,
			w:         []float32{0, 0, 0, 0},
			scaleBits: 0x33A917DC,
			q:         []int8{0, 0, 0, 0},
			stored:    []byte{0, 0, 0, 0},
		},
		{
			name: "TV4-truediv", out: 2, in: 2, trueDiv: true,
			w:         []float32{0, 0, 0, 0},
			scaleBits: 0x33A917DC,
			q:         []int8{0, 0, 0, 0},
			stored:    []byte{0, 0, 0, 0},
		},
		{ // TV5: below the 1e-5 clamp.
			name: "TV5", out: 1, in: 2,
			w:         []float32{1e-6, -5e-6},
			scaleBits: 0x33A917DC,
			q:         []int8{13, -64},
			stored:    []byte{13, 0xC0},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, scale, err := QuantizePerTensorInt8(c.w, c.trueDiv)
			if err != nil {
				t.Fatal(err)
			}
			if math.Float32bits(scale) != c.scaleBits {
				t.Errorf("scale = %v (%#08x), want %#08x", scale, math.Float32bits(scale), c.scaleBits)
			}
			for i := range q {
				if q[i] != c.q[i] {
					t.Fatalf("q = %v, want %v", q, c.q)
				}
			}
			if got := TransposeInt8(q, c.out, c.in); !bytes.Equal(got, c.stored) {
				t.Errorf("stored bytes % X, want % X", got, c.stored)
			}
			qT, s2, err := QuantizeLinearInt8(c.w, c.out, c.in, c.trueDiv)
			if err != nil {
				t.Fatal(err)
			}
			if s2 != scale || !bytes.Equal(qT, c.stored) {
				t.Errorf("QuantizeLinearInt8 = % X scale %v, want % X scale %v", qT, s2, c.stored, scale)
			}
		})
	}
}

// TV3's second case: a single weight whose q differs between the two
// scale semantics.
func TestInt8ReciprocalChangesQ(t *testing.T) {
	w := []float32{0.131, float32(-0.12945275008678436)}
	for _, c := range []struct {
		trueDiv bool
		want    int8
	}{{false, -126}, {true, -125}} {
		q, _, err := QuantizePerTensorInt8(w, c.trueDiv)
		if err != nil {
			t.Fatal(err)
		}
		if q[1] != c.want {
			t.Errorf("trueDiv=%v: q = %d, want %d", c.trueDiv, q[1], c.want)
		}
	}
}

// TV6: the int32 bias path (refused by the export, kept here as a vector).
func TestBiasInt32TV6(t *testing.T) {
	q, scale, err := QuantizeBiasInt32([]float32{0.25, -1.0, 0.126}, false)
	if err != nil {
		t.Fatal(err)
	}
	if math.Float32bits(scale) != 0x3C010204 {
		t.Errorf("scale %v (%#x), want 0.007874015718698502", scale, math.Float32bits(scale))
	}
	want := []int32{32, -127, 16}
	for i := range want {
		if q[i] != want[i] {
			t.Fatalf("q = %v, want %v", q, want)
		}
	}
}

func TestInt8RejectsNonFinite(t *testing.T) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		w := []float32{1, 2, v, 3}
		if _, _, err := QuantizePerTensorInt8(w, false); err == nil || !strings.Contains(err.Error(), "element 2") {
			t.Errorf("%v: err = %v, want an error naming element 2", v, err)
		}
		if _, _, err := QuantizeLinearInt8(w, 2, 2, false); err == nil {
			t.Errorf("%v: QuantizeLinearInt8 accepted it", v)
		}
	}
	if _, _, err := QuantizeLinearInt8(make([]float32, 5), 2, 2, false); err == nil {
		t.Error("QuantizeLinearInt8 accepted 5 values for a 2x2 weight")
	}
}

// The 4.4 % claim of the spec: the two scale semantics disagree on a few
// percent of amax values, and never by more than one ulp.
func TestInt8ScaleSemanticsDiffer(t *testing.T) {
	diff := 0
	const n = 100000
	for i := range n {
		amax := float32(0.01) + float32(i)*1.3e-5
		a, b := Int8Scale(amax, false), Int8Scale(amax, true)
		if a != b {
			diff++
			if d := int64(math.Float32bits(a)) - int64(math.Float32bits(b)); d != 1 && d != -1 {
				t.Fatalf("amax %v: scales %v and %v differ by %d ulp", amax, a, b, d)
			}
		}
	}
	if frac := float64(diff) / n; frac < 0.02 || frac > 0.08 {
		t.Errorf("scales differ for %.2f %% of amax values, spec says about 4.4 %%", 100*frac)
	}
}

func TestQuantizeLinearInt8Large(t *testing.T) {
	const out, in = 300, 170
	w := make([]float32, out*in)
	for i := range w {
		w[i] = float32(math.Sin(float64(i)*0.37)) * float32(1+i%7)
	}
	q, scale, err := QuantizePerTensorInt8(w, false)
	if err != nil {
		t.Fatal(err)
	}
	qT, s2, err := QuantizeLinearInt8(w, out, in, false)
	if err != nil {
		t.Fatal(err)
	}
	if s2 != scale || !bytes.Equal(qT, TransposeInt8(q, out, in)) {
		t.Fatal("parallel transposed quantization differs from the serial one")
	}
	for i, v := range w {
		if e := math.Abs(float64(v) - float64(q[i])*float64(scale)); e > 0.5*float64(scale)*(1+1e-6) {
			t.Fatalf("element %d: error %g > scale/2 (%g)", i, e, scale/2)
		}
	}
}

// quantRow (the assembly kernel where there is one, plus the scalar tail)
// gives quantInt8's bytes for every value: ties, values outside the int8
// range (clamped), zeros of both signs, subnormals, and lengths that are
// not multiples of the kernel's width.
func TestQuantRowMatchesScalar(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -126.5, 127.49, 127.5, -128.5, -129, 1000, -1000, 1e-40, -1e-40, 3e6, -3e6, 5e6, -5e6}
	for _, scale := range []float32{1, Int8Scale(3.7, false), Int8Scale(1e-7, true), 0.0123} {
		for _, n := range []int{0, 1, 31, 32, 33, 64, 95, 1000} {
			src := make([]float32, n)
			for i := range src {
				switch {
				case i < len(special):
					src[i] = special[i] * scale
				case i%3 == 0:
					src[i] = (float32(i%301) - 150) * scale / 2 // exact ties
				default:
					src[i] = float32(math.Sin(float64(i)*1.7)) * 130 * scale
				}
			}
			dst := make([]int8, n)
			quantRow(dst, src, scale)
			for i, v := range src {
				if want := quantInt8(v, scale); dst[i] != want {
					t.Fatalf("scale %v n %d: element %d (%v): %d, want %d", scale, n, i, v, dst[i], want)
				}
			}
		}
	}
}

// AbsMax agrees with the plain loop and names the first non-finite value.
func TestAbsMaxMatchesLoop(t *testing.T) {
	w := make([]float32, 1<<20+37)
	for i := range w {
		w[i] = float32(math.Sin(float64(i)*0.013)) * float32(1+i%11)
	}
	w[777777] = -12.5
	var want float32
	for _, v := range w {
		want = max(want, abs32(v))
	}
	got, err := AbsMax(w)
	if err != nil || got != want {
		t.Fatalf("AbsMax = %v, %v; want %v", got, err, want)
	}
	w[900001], w[5] = float32(math.Inf(-1)), float32(math.NaN())
	if _, err := AbsMax(w); err == nil || !strings.Contains(err.Error(), "element 5 ") {
		t.Fatalf("err = %v, want one naming element 5", err)
	}
}

// QuantizeLinearInt8 stores the bytes of the serial quantization,
// transposed, for shapes on and off the multiples of its blocks.
func TestQuantizeLinearInt8Shapes(t *testing.T) {
	for _, sh := range [][2]int{{1, 1}, {8, 8}, {64, 64}, {65, 9}, {128, 40}, {7, 300}, {200, 16}, {129, 127}} {
		out, in := sh[0], sh[1]
		w := make([]float32, out*in)
		for i := range w {
			w[i] = float32(math.Cos(float64(i)*0.71)) * float32(1+i%5)
		}
		q, scale, err := QuantizePerTensorInt8(w, true)
		if err != nil {
			t.Fatal(err)
		}
		qT, s2, err := QuantizeLinearInt8(w, out, in, true)
		if err != nil {
			t.Fatal(err)
		}
		if s2 != scale || !bytes.Equal(qT, TransposeInt8(q, out, in)) {
			t.Errorf("[%d][%d]: transposed quantization differs from the serial one", out, in)
		}
	}
}
