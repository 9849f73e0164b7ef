//go:build amd64

package quant

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// The assembly hard-codes these offsets.
func TestQ4KLanesLayout(t *testing.T) {
	var s q4kLanes
	for _, c := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"x", unsafe.Offsetof(s.x), 0}, {"w", unsafe.Offsetof(s.w), 1024},
		{"la", unsafe.Offsetof(s.la), 2048}, {"l", unsafe.Offsetof(s.l), 3072},
		{"scale", unsafe.Offsetof(s.scale), 4096}, {"theMin", unsafe.Offsetof(s.theMin), 4128},
		{"dj", unsafe.Offsetof(s.dj), 4160}, {"dm", unsafe.Offsetof(s.dm), 4192},
		{"sumW", unsafe.Offsetof(s.sumW), 4224}, {"sumX", unsafe.Offsetof(s.sumX), 4256},
		{"max", unsafe.Offsetof(s.max), 4288}, {"eq", unsafe.Offsetof(s.eq), 4320},
		{"lMin", unsafe.Offsetof(s.lMin), 4352}, {"bMad", unsafe.Offsetof(s.bMad), 4384},
		{"bScale", unsafe.Offsetof(s.bScale), 4416}, {"bMin", unsafe.Offsetof(s.bMin), 4448},
		{"bIs", unsafe.Offsetof(s.bIs), 4480}, {"dMask", unsafe.Offsetof(s.dMask), 4512},
		{"cIs", unsafe.Offsetof(s.cIs), 4544}, {"tMin", unsafe.Offsetof(s.tMin), 4576},
		{"nums", unsafe.Offsetof(s.nums), 4608},
	} {
		if c.got != c.want {
			t.Errorf("q4kLanes.%s at offset %d, the assembly expects %d", c.name, c.got, c.want)
		}
	}
}

// q4kAdversarial returns super-blocks meant to break a SIMD path that does
// not follow the scalar code exactly: each of the eight sub-blocks of a
// block gets its own kind, so lanes with the max == min early return, the
// D ≤ 0 and thisMin > 0 branches and ordinary lanes meet in one vector.
func q4kAdversarial(r *rand.Rand, nblocks int) []float32 {
	kinds := []func(i int) float32{
		func(int) float32 { return 0 },
		func(int) float32 { return float32(math.Copysign(0, -1)) },
		func(int) float32 { return 0.75 },
		func(int) float32 { return -3.5 },
		func(int) float32 { return float32(r.NormFloat64()) * 0.02 },
		func(int) float32 { return float32(r.NormFloat64()) * 1e30 },
		func(int) float32 { return float32(r.Float64()*2-1) * 3e38 },
		func(int) float32 { return float32(r.NormFloat64()) * 1e-39 }, // subnormal
		func(int) float32 { return math.Float32frombits(r.Uint32N(0x00800000)) },
		func(int) float32 { return float32(r.NormFloat64()) * 1e-20 },
		func(int) float32 { return 1 + float32(r.Float64()) },  // all positive
		func(int) float32 { return -1 - float32(r.Float64()) }, // all negative
		func(i int) float32 { return float32(i%17-8) * 0.5 },
		func(i int) float32 { return float32(i%2) * 2 }, // two levels
		func(i int) float32 {
			if i == 5 {
				return 1
			}
			return 0
		},
		func(i int) float32 {
			if i == 31 {
				return -1e-30
			}
			return 0
		},
		func(int) float32 { return math.Float32frombits(r.Uint32()&^(0xFF<<23) | uint32(1+r.IntN(253))<<23) },
		func(i int) float32 { return float32(r.NormFloat64()) * float32(math.Pow(10, float64(i%40-20))) },
	}
	x := make([]float32, nblocks*QK_K)
	for b := range nblocks {
		for j := range QK_K / 32 {
			k := kinds[r.IntN(len(kinds))]
			if b < len(kinds) {
				k = kinds[(b+j)%len(kinds)]
			}
			for i := range 32 {
				x[b*QK_K+32*j+i] = k(i)
			}
		}
	}
	return x
}

// The AVX2 quantizer gives the portable code's bytes, block by block.
func TestQ4KAVX2MatchesGeneric(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 on this CPU: the portable path is the only one")
	}
	r := rand.New(rand.NewPCG(4, 4))
	gauss := make([]float32, 2000*QK_K)
	for i := range gauss {
		gauss[i] = float32(r.NormFloat64()) * 0.02
	}
	uniform := make([]float32, 500*QK_K)
	for i := range uniform {
		uniform[i] = float32(r.Float64()*2-1) * 5
	}
	// Whole super-blocks whose every lane takes the loop without clamps
	// (all t in (−0.5, 15.5)) with exact zeros of both signs among the
	// values: t in (−0.5, 0) rounds to −0 there, and x = ±0 meets a zero
	// min in the error.
	zeros := make([]float32, 1000*QK_K)
	for i := range zeros {
		switch {
		case i%7 == 3:
			zeros[i] = 0
		case i%11 == 5:
			zeros[i] = float32(math.Copysign(0, -1))
		case i/QK_K%2 == 0:
			zeros[i] = float32(r.NormFloat64()) * 0.02
		default:
			zeros[i] = float32(r.Float64()) // non-negative: min is 0
		}
	}
	cases := map[string][]float32{
		"gauss":       gauss,
		"uniform":     uniform,
		"zeros":       zeros,
		"adversarial": q4kAdversarial(r, 3000),
	}
	for name, x := range testInputs() {
		cases["testInputs/"+name] = x
	}
	for name, x := range cases {
		nb := len(x) / QK_K
		want := make([]byte, nb*BlockQ4KBytes)
		got := make([]byte, nb*BlockQ4KBytes)
		quantizeQ4KGeneric(want, x, nb)
		quantizeQ4KAVX2(got, x, nb)
		compareBlocks(t, name, got, want, BlockQ4KBytes, x, QK_K)
	}
}

// compareBlocks reports the blocks (blockBytes each, quantized from
// blockValues values of x) where the AVX2 output got differs from the
// portable output want: the first three in full, then their count.
func compareBlocks(t *testing.T, name string, got, want []byte, blockBytes int, x []float32, blockValues int) {
	t.Helper()
	nb := len(want) / blockBytes
	bad := 0
	for b := range nb {
		w, g := want[b*blockBytes:(b+1)*blockBytes], got[b*blockBytes:(b+1)*blockBytes]
		if !bytes.Equal(w, g) {
			if bad < 3 {
				t.Errorf("%s block %d: AVX2\n%x\nportable\n%x\ninput %v", name, b, g, w, x[b*blockValues:(b+1)*blockValues])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d blocks differ", name, bad, nb)
	}
}

// BenchmarkQ4KScalesAVX2 is the scale-search kernel alone on two
// super-blocks per call (bytes/s counts their f32 input).
func BenchmarkQ4KScalesAVX2(b *testing.B) {
	if !haveAVX2 {
		b.Skip("no AVX2")
	}
	x := benchWeights()[:QK_K*64]
	var s [2]q4kLanes
	q4kNums(&s[0].nums, -1, 0.1, 15)
	b.SetBytes(2 * QK_K * 4)
	defer reportCPU(b, 2*QK_K*4)()
	b.ResetTimer()
	for i := range b.N {
		k := (2 * i) % 64
		q4kScalesAVX2(&x[k*QK_K], &x[(k+1)*QK_K], &s[0], &s[1])
	}
}

// FuzzQ4KAVX2 compares the AVX2 and portable Q4_K quantizers on two (or,
// for short inputs, one) super-blocks built from arbitrary float32 bit
// patterns (non-finite ones replaced by a finite value).
func FuzzQ4KAVX2(f *testing.F) {
	if !haveAVX2 {
		f.Skip("no AVX2 on this CPU: the portable path is the only one")
	}
	f.Add([]byte{0, 0, 0, 0}, uint8(0))
	f.Add([]byte{0, 0, 0x80, 0x3f, 0, 0, 0x80, 0xbf}, uint8(3))
	f.Add([]byte{0xff, 0xff, 0x7f, 0x7f, 1, 0, 0, 0}, uint8(7))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, uint8(200))
	f.Fuzz(func(t *testing.T, raw []byte, mode uint8) {
		nb := 1 + int(mode&1)
		x := make([]float32, nb*QK_K)
		if len(raw) >= 4 {
			for i := range x {
				k := (i * 4) % (len(raw) - len(raw)%4)
				v := math.Float32frombits(uint32(raw[k]) | uint32(raw[k+1])<<8 | uint32(raw[k+2])<<16 | uint32(raw[k+3])<<24)
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					v = float32(i%7) - 3
				}
				if mode&2 != 0 && (i/32)%3 == 1 {
					v = x[i-32] // repeat a sub-block
				}
				if mode&4 != 0 && (i/32)%4 == 2 {
					v = float32(mode) // constant sub-block
				}
				x[i] = v
			}
		}
		want := make([]byte, nb*BlockQ4KBytes)
		got := make([]byte, nb*BlockQ4KBytes)
		quantizeQ4KGeneric(want, x, nb)
		quantizeQ4KAVX2(got, x, nb)
		if !bytes.Equal(got, want) {
			t.Fatalf("AVX2 %x\nportable %x\ninput %v", got, want, x)
		}
	})
}
