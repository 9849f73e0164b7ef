package calib

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The store keeps exactly the largest keep keys (a multiset) whatever the
// key spread: duplicates, the extreme keys 0 and 2³²−1, five-byte deltas,
// and many compactions.
func TestKeyStoreKeepsLargest(t *testing.T) {
	gens := map[string]func(r *rand.Rand) uint32{
		"uniform":    func(r *rand.Rand) uint32 { return r.Uint32() },
		"duplicates": func(r *rand.Rand) uint32 { return uint32(r.IntN(7)) * 1000 },
		"extremes": func(r *rand.Rand) uint32 {
			return []uint32{0, ^uint32(0), 1 << 31, 5}[r.IntN(4)]
		},
		"narrow": func(r *rand.Rand) uint32 { return 0xC0000000 + uint32(r.IntN(1<<14)) },
	}
	for name, gen := range gens {
		for _, keep := range []int{1, 3, 1000, 5000, 40_000} {
			r := rand.New(rand.NewPCG(uint64(keep), 3))
			a := &accum{keep: keep}
			var all []uint32
			for range 7 {
				n := r.IntN(3 * keep)
				for range n {
					k := gen(r)
					all = append(all, k)
					a.initKeys()
					a.push(k)
				}
			}
			a.compact()
			slices.Sort(all)
			slices.Reverse(all)
			want := all[:min(keep, len(all))]
			var got []uint32
			a.keys.forEach(func(ks []uint32) { got = append(got, ks...) })
			if !slices.Equal(got, want) {
				t.Fatalf("%s keep=%d: kept %d keys, want %d (first diff at %d)", name, keep, len(got), len(want), firstDiff(got, want))
			}
			if len(want) == keep && (!a.full || a.thr != want[keep-1]) {
				t.Fatalf("%s keep=%d: full=%v thr=%d, want the %d-th largest %d", name, keep, a.full, a.thr, keep, want[keep-1])
			}
			if len(want) > 0 && a.keys.max() != want[0] {
				t.Fatalf("%s keep=%d: max %d, want %d", name, keep, a.keys.max(), want[0])
			}
		}
	}
}

func firstDiff(a, b []uint32) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
