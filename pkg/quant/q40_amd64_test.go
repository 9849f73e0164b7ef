//go:build amd64

package quant

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// The AVX2 Q4_0 quantizer gives the portable code's bytes, block by block,
// on ordinary, adversarial (zeros, −0, ties, subnormals, huge values) and
// non-finite blocks (which the assembly leaves to the portable code).
func TestQ40AVX2MatchesGeneric(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 on this CPU: the portable path is the only one")
	}
	r := rand.New(rand.NewPCG(5, 5))
	gauss := make([]float32, 3000*QK4_0)
	for i := range gauss {
		gauss[i] = float32(r.NormFloat64()) * 0.02
	}
	ties := make([]float32, 64*QK4_0)
	for b := range 64 {
		for i := range QK4_0 {
			ties[b*QK4_0+i] = float32(r.IntN(9)-4) * 0.25 // many equal magnitudes of both signs
		}
		ties[b*QK4_0] = float32(math.Copysign(0, -1))
	}
	nonFinite := append([]float32(nil), gauss[:40*QK4_0]...)
	nonFinite[5*QK4_0+3] = float32(math.NaN())
	nonFinite[20*QK4_0] = float32(math.Inf(-1))
	cases := map[string][]float32{
		"gauss":       gauss,
		"ties":        ties,
		"adversarial": q4kAdversarial(r, 400),
		"non-finite":  nonFinite,
		"one block":   gauss[:QK4_0],
	}
	for name, x := range testInputs() {
		if len(x)%QK4_0 == 0 {
			cases["testInputs/"+name] = x
		}
	}
	for name, x := range cases {
		nb := len(x) / QK4_0
		want := make([]byte, nb*BlockQ4_0Bytes)
		got := make([]byte, nb*BlockQ4_0Bytes)
		quantizeQ4_0Generic(want, x, 0, nb)
		QuantizeQ4_0(got, x)
		compareBlocks(t, name, got, want, BlockQ4_0Bytes, x, QK4_0)
	}
	if n := quantizeQ4_0Fast(make([]byte, 40*BlockQ4_0Bytes), nonFinite, 40); n != 5 {
		t.Errorf("the assembly did %d blocks of the non-finite input, want 5 (it must stop at the NaN)", n)
	}
}

// FuzzQ40AVX2 compares the AVX2 and portable Q4_0 quantizers on blocks
// built from arbitrary float32 bit patterns (NaN and Inf included).
func FuzzQ40AVX2(f *testing.F) {
	if !haveAVX2 {
		f.Skip("no AVX2 on this CPU: the portable path is the only one")
	}
	f.Add([]byte{0, 0, 0, 0}, uint8(0))
	f.Add([]byte{0, 0, 0x80, 0x3f, 0, 0, 0x80, 0xbf}, uint8(3))
	f.Add([]byte{0xff, 0xff, 0x7f, 0x7f, 1, 0, 0, 0}, uint8(7))
	f.Add([]byte{0, 0, 0xc0, 0x7f, 1, 2, 3, 4}, uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, mode uint8) {
		nb := 1 + int(mode%5)
		x := make([]float32, nb*QK4_0)
		if len(raw) >= 4 {
			for i := range x {
				k := (i * 4) % (len(raw) - len(raw)%4)
				x[i] = math.Float32frombits(uint32(raw[k]) | uint32(raw[k+1])<<8 | uint32(raw[k+2])<<16 | uint32(raw[k+3])<<24)
				if mode&8 != 0 && i%3 == 1 {
					x[i] = -x[i-1] // equal magnitudes, opposite signs
				}
			}
		}
		want := make([]byte, nb*BlockQ4_0Bytes)
		got := make([]byte, nb*BlockQ4_0Bytes)
		quantizeQ4_0Generic(want, x, 0, nb)
		QuantizeQ4_0(got, x)
		if !bytes.Equal(got, want) {
			t.Fatalf("AVX2 %x\nportable %x\ninput %v", got, want, x)
		}
	})
}
