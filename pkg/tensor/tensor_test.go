package tensor

import (
	"math"
	"testing"
)

func TestBF16RoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{1.00390625, 0x3f80}, // exactly half an ulp above 1: ties to even (down)
		{1.01171875, 0x3f82}, // 1.5 ulp: ties to even (up)
		{float32(math.Inf(1)), 0x7f80},
		{0, 0},
	} {
		if got := F32ToBF16(tc.in); got != tc.want {
			t.Errorf("F32ToBF16(%v) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(float64(BF16ToF32(F32ToBF16(float32(math.NaN()))))) {
		t.Error("NaN did not survive bf16")
	}
	for b := 0; b < 1<<16; b++ {
		f := BF16ToF32(uint16(b))
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := F32ToBF16(f); got != uint16(b) {
			t.Fatalf("bf16 %#04x -> %v -> %#04x", b, f, got)
		}
	}
}

func TestF16AllPatterns(t *testing.T) {
	for b := 0; b < 1<<16; b++ {
		f := F16ToF32(uint16(b))
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := F32ToF16(f); got != uint16(b) {
			t.Fatalf("f16 %#04x -> %v -> %#04x", b, f, got)
		}
	}
	// Subnormal and ties-to-even spot checks.
	if got := F16ToF32(0x0001); got != float32(math.Ldexp(1, -24)) {
		t.Errorf("smallest subnormal = %v", got)
	}
	if got := F32ToF16(2049); got != F32ToF16(2048) {
		t.Errorf("2049 should round to 2048 in fp16 (ties to even), got %#04x", got)
	}
	if got := RoundF16(2051); got != 2052 {
		t.Errorf("RoundF16(2051) = %v, want 2052", got)
	}
}

func TestToFloat32(t *testing.T) {
	cases := []struct {
		d    DType
		raw  []byte
		want []float32
	}{
		{F32, []byte{0, 0, 0x80, 0x3f}, []float32{1}},
		{BF16, []byte{0x80, 0x3f, 0x00, 0xc0}, []float32{1, -2}},
		{F16, []byte{0x00, 0x3c}, []float32{1}},
		{F64, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}, []float32{1}},
		{I8, []byte{0xff, 0x7f}, []float32{-1, 127}},
		{U8, []byte{0xff}, []float32{255}},
		{Bool, []byte{1, 0}, []float32{1, 0}},
		{I16, []byte{0xfe, 0xff}, []float32{-2}},
		{I32, []byte{0xfd, 0xff, 0xff, 0xff}, []float32{-3}},
		{I64, []byte{0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []float32{-4}},
	}
	for _, tc := range cases {
		got := make([]float32, len(tc.want))
		if err := ToFloat32(tc.d, tc.raw, got); err != nil {
			t.Fatalf("%v: %v", tc.d, err)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%v[%d] = %v, want %v", tc.d, i, got[i], tc.want[i])
			}
		}
	}
	if err := ToFloat32(F32, []byte{1, 2, 3}, make([]float32, 1)); err == nil {
		t.Error("short input accepted")
	}
	if _, err := ParseDType("F8_E4M3"); err == nil {
		t.Error("unknown dtype accepted")
	}
}

// ToFloat32Finite converts every bf16 pattern exactly and copies float32
// exactly (the assembly kernels, the scalar tails and the parallel chunks
// alike) and finds the first NaN or Inf, for lengths around the kernels'
// width and the chunk size.
func TestToFloat32Finite(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 1 << 16, 1<<20 + 1, 3<<20 + 5} {
		for _, bad := range []int{-1, 0, n / 2, n - 1} {
			if bad >= n || (bad == 0 && n == 0) {
				continue
			}
			raw := make([]byte, 2*n)
			for i := range n {
				b := uint16(i * 40503)
				if b&0x7f80 == 0x7f80 {
					b &^= 0x0080 // keep the values finite but for bad
				}
				if i == bad {
					b = 0x7f80 | uint16(i%2)<<15 | uint16(i%3) // ±Inf or NaN
				}
				raw[2*i], raw[2*i+1] = byte(b), byte(b>>8)
			}
			dst := make([]float32, n)
			got, err := ToFloat32Finite(BF16, raw, dst)
			if err != nil || got != bad {
				t.Fatalf("n %d bad %d: got %d, %v", n, bad, got, err)
			}
			for i := range n {
				if want := math.Float32bits(BF16ToF32(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)); math.Float32bits(dst[i]) != want {
					t.Fatalf("n %d: element %d = %#x, want %#x", n, i, math.Float32bits(dst[i]), want)
				}
			}
			f32 := Float32Bytes(dst)
			dst32 := make([]float32, n)
			if got, err := ToFloat32Finite(F32, f32, dst32); err != nil || got != bad {
				t.Fatalf("F32 n %d bad %d: got %d, %v", n, bad, got, err)
			}
			for i := range n {
				if math.Float32bits(dst32[i]) != math.Float32bits(dst[i]) {
					t.Fatalf("F32 n %d: element %d = %#x, want %#x", n, i, math.Float32bits(dst32[i]), math.Float32bits(dst[i]))
				}
			}
		}
	}
	if _, err := ToFloat32Finite(BF16, make([]byte, 3), make([]float32, 2)); err == nil {
		t.Error("3 bytes accepted for 2 bf16 values")
	}
}
