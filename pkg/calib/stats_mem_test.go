package calib

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The candidate store is the memory that grows with the number of samples
// (issue #4: peak RSS at 64 samples within 10 % of 8 samples). Over
// activation-like values (Gaussian, and Gaussian with a few large
// outliers) it must stay near 1.5 bytes per kept key plus its half-byte
// buffer, and large buffers must stay out of the Go heap target.
func TestCandidateStoreBytesPerKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		gen  func(r *rand.Rand) float32
		max  float64 // bytes per kept key, slots in use + buffer
	}{
		{"gauss", 20_000_000, func(r *rand.Rand) float32 { return float32(r.NormFloat64()) }, 2.75},
		{"outliers", 20_000_000, func(r *rand.Rand) float32 {
			if r.IntN(5000) == 0 {
				return float32(r.NormFloat64() * 300)
			}
			return float32(r.NormFloat64())
		}, 2.75},
	} {
		r := rand.New(rand.NewPCG(11, 12))
		a, err := newAccum(int64(tc.n))
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, 1<<16)
		peak := 0
		for done := 0; done < tc.n; done += len(v) {
			v = v[:min(len(v), tc.n-done)]
			for i := range v {
				v[i] = tc.gen(r)
			}
			a.add(v, false)
			peak = max(peak, a.keys.arena.inUse())
		}
		a.compact()
		if a.keys.n != a.keep {
			t.Fatalf("%s: %d kept, want %d", tc.name, a.keys.n, a.keep)
		}
		bytes := float64(peak*slotSize + cap(a.keys.buf)*4)
		if per := bytes / float64(a.keep); per > tc.max || math.IsNaN(per) {
			t.Errorf("%s: %.0f bytes for %d kept keys = %.2f B/key, want ≤ %.2f", tc.name, bytes, a.keep, per, tc.max)
		} else {
			t.Logf("%s: %.2f bytes per kept key (%d keys, peak %d slots)", tc.name, per, a.keep, peak)
		}
	}
	if mmapMinKeys > 1<<12 {
		t.Errorf("mmapMinKeys = %d: candidate buffers of 16 KiB and more belong outside the Go heap", mmapMinKeys)
	}
}
