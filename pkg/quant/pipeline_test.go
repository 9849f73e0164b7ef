package quant

import (
	"bytes"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// QuantizeFile's chunk pipeline writes, whatever the number of workers,
// exactly the blocks of each whole tensor quantized in one piece, for
// tensors of several chunks (with a partial last one) between F32 ones.
func TestQuantizeFilePipeline(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	vals := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64()) * 0.05
		}
		return x
	}
	type ent = struct {
		name string
		dt   mllmfmt.DType
		data []byte
	}
	tensors := map[string][]float32{
		"a.weight":      vals(2*chunkValues + 3*QK_K),
		"b.norm.weight": vals(100),
		"c.weight":      vals(QK_K),
		"d.weight":      vals(chunkValues),
		"e.weight":      vals(chunkValues + 64*QK_K),
	}
	var entries []ent
	for _, n := range []string{"a.weight", "b.norm.weight", "c.weight", "d.weight", "e.weight"} {
		entries = append(entries, ent{n, mllmfmt.F32, tensor.Float32Bytes(tensors[n])})
	}
	in := writeMLLM(t, entries)
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	for _, dt := range []mllmfmt.DType{mllmfmt.Q4_K, mllmfmt.Q8_0} {
		f, _ := FormatOf(dt)
		for _, procs := range []int{1, 3} {
			runtime.GOMAXPROCS(procs)
			out, err := mllmfmt.Parse(quantizeToBytes(t, in, dt, FileOptions{}))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range out.Entries {
				x := tensors[e.Name]
				want := tensor.Float32Bytes(x)
				if e.DType != mllmfmt.F32 {
					want = make([]byte, len(x)/f.BlockElems*f.BlockBytes)
					f.Quantize(want, x)
				}
				if !bytes.Equal(out.Data(e), want) {
					t.Errorf("%v, GOMAXPROCS=%d: tensor %s differs from a one-piece quantization", dt, procs, e.Name)
				}
			}
		}
	}
}

// A NaN deep in a tensor fails the file with its position, and the
// workers still in flight are stopped (the call returns).
func TestQuantizeFilePipelineNaN(t *testing.T) {
	type ent = struct {
		name string
		dt   mllmfmt.DType
		data []byte
	}
	x := make([]float32, 3*chunkValues)
	x[chunkValues+5] = float32(math.NaN())
	in := writeMLLM(t, []ent{
		{"a.weight", mllmfmt.F32, tensor.Float32Bytes(x)},
		{"b.weight", mllmfmt.F32, tensor.Float32Bytes(make([]float32, 4*chunkValues))},
	})
	for _, procs := range []int{1, 2, 4} {
		prev := runtime.GOMAXPROCS(procs)
		_, err := QuantizeFile(in, nopWS{}, mllmfmt.Q4_K, FileOptions{})
		runtime.GOMAXPROCS(prev)
		want := "values 1048576..2097152: element 5 is NaN"
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `"a.weight"`) {
			t.Errorf("GOMAXPROCS=%d: err = %v, want one naming a.weight and %q", procs, err, want)
		}
	}
}
