package rotate

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/model"
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
			e := newEngine(defaultWorkers())
			b.SetBytes(int64(4 * len(w)))
			cpu0, n := cpuSeconds(), 0
			for b.Loop() {
				e.rightMul(w, op)
				n++
			}
			b.ReportMetric((cpuSeconds()-cpu0)/float64(n), "cpu-s/op")
		})
		b.Run("leftT/"+name, func(b *testing.B) {
			e := newEngine(defaultWorkers())
			b.SetBytes(int64(4 * len(w)))
			cpu0, n := cpuSeconds(), 0
			for b.Loop() {
				e.leftMulT(w, tc.rows, op)
				n++
			}
			b.ReportMetric((cpuSeconds()-cpu0)/float64(n), "cpu-s/op")
		})
	}
}

// BenchmarkRotateLayer rotates one decoder layer with real model sizes
// (vocabulary cut to 1000): Qwen1.5-1.8B (hidden 2048, 16 heads, inter 5504)
// and Qwen2-7B (hidden 3584, 28 heads, 4 kv heads, inter 18944).
func BenchmarkRotateLayer(b *testing.B) {
	for _, tc := range []struct {
		name                  string
		hidden, heads, kv, in int
	}{{"qwen1.5-1.8b", 2048, 16, 16, 5504}, {"qwen2-7b", 3584, 28, 4, 18944}} {
		b.Run(tc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			hd := tc.hidden / tc.heads
			c := &model.Config{Arch: "qwen2", HiddenSize: tc.hidden, IntermediateSize: tc.in, NumLayers: 1,
				NumHeads: tc.heads, NumKVHeads: tc.kv, HeadDim: hd, VocabSize: 1000, AttentionBias: true}
			lin := func(out, in int, bias bool) model.Linear {
				l := model.Linear{Out: out, In: in, W: randWeights(rng, out*in, 0.02)}
				if bias {
					l.B = randWeights(rng, out, 0.02)
				}
				return l
			}
			ones := func() []float32 { return randWeights(rng, tc.hidden, 0) }
			w := &model.Weights{Config: c, Embed: randWeights(rng, 1000*tc.hidden, 0.02), Norm: ones(),
				LMHead: lin(1000, tc.hidden, false)}
			w.Layers = []model.Layer{{InputNorm: ones(), PostNorm: ones(),
				Q: lin(tc.heads*hd, tc.hidden, true), K: lin(tc.kv*hd, tc.hidden, true), V: lin(tc.kv*hd, tc.hidden, true),
				O: lin(tc.hidden, tc.heads*hd, false), Gate: lin(tc.in, tc.hidden, false), Up: lin(tc.in, tc.hidden, false),
				Down: lin(tc.hidden, tc.in, false)}}
			rot, err := NewRotation(tc.hidden, hd, 1, 1)
			if err != nil {
				b.Fatal(err)
			}
			cpu0 := cpuSeconds()
			n := 0
			for b.Loop() {
				if err := RotateModel(w, rot); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric((cpuSeconds()-cpu0)/float64(n), "cpu-s/op")
		})
	}
}

// cpuSeconds is the process's user+system CPU time: wall time is
// meaningless on a shared machine.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
