package rotate

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkRightMul measures W ← W·R for one [rows][n] matrix (Qwen1.5-1.8B:
// n = 2048, up_proj rows = 5504; Qwen2-7B: n = 3584, K = 28).
func BenchmarkRightMul(b *testing.B) {
	for _, tc := range []struct {
		n, rows int
		dense   bool
	}{{2048, 5504, false}, {3584, 1024, false}, {1536, 1024, false}, {2048, 64, true}} {
		rng := rand.New(rand.NewPCG(1, 2))
		r, err := RandomHadamard(tc.n, rng)
		if err != nil {
			b.Fatal(err)
		}
		op := newOp(r, tc.n, tc.dense)
		w := randWeights(rng, tc.rows*tc.n, 0.02)
		name := fmt.Sprintf("n=%d/rows=%d/%T", tc.n, tc.rows, op)
		b.Run(name, func(b *testing.B) {
			e := &engine{workers: defaultWorkers()}
			b.SetBytes(int64(4 * len(w)))
			for b.Loop() {
				e.rightMul(w, op)
			}
		})
		b.Run("leftT/"+name, func(b *testing.B) {
			e := &engine{workers: defaultWorkers()}
			b.SetBytes(int64(4 * len(w)))
			for b.Loop() {
				e.leftMulT(w, tc.rows, op)
			}
		})
	}
}
