package runtime

import (
	"math"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/kernels"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/quant"
)

// TestExpandQ4K checks that products with a Q4_K matrix whose rows are not
// whole blocks (dequantized during the product) have the same bits as
// dequantizing the whole tensor with pkg/quant and one kernels.MatMulT
// call (what the decoder did before), for several shapes, thread counts,
// with and without bias, and that row (the embedding lookup) agrees too.
func TestExpandQ4K(t *testing.T) {
	s := uint64(3)
	next := func() float32 {
		s = s*6364136223846793005 + 1442695040888963407
		return float32(int64(s>>40)-(1<<23)) / (1 << 23)
	}
	for _, sh := range []struct{ rows, cols int }{
		{4, 704}, {36, 704}, {2, 5504}, {34, 5504}, {40, 128}, {18, 384}, {7, 1280},
	} {
		n := sh.rows * sh.cols
		w := make([]float32, n)
		for i := range w {
			w[i] = next()
			if i%97 == 0 {
				w[i] *= 40 // outliers: varied sub-block scales and mins
			}
		}
		q := make([]byte, n/quant.QK_K*quant.BlockQ4KBytes)
		quant.QuantizeQ4K(q, w)
		full := make([]float32, n)
		quant.DequantizeQ4K(full, q)
		got := make([]float32, n)
		expandQ4K(got, q)
		for i := range full {
			if math.Float32bits(got[i]) != math.Float32bits(full[i]) {
				t.Fatalf("%+v: expandQ4K[%d] = %v, quant.DequantizeQ4K %v", sh, i, got[i], full[i])
			}
		}
		m := &DMatrix{Name: "w", Rows: sh.rows, Cols: sh.cols, Kind: mllmfmt.Q4_K, Data: q, Expand: true}
		x := make([]float32, sh.cols)
		bias := make([]float32, sh.rows)
		for i := range x {
			x[i] = next()
		}
		for i := range bias {
			bias[i] = next()
		}
		for _, b := range [][]float32{nil, bias} {
			want := make([]float32, sh.rows)
			kernels.MatMulTThreads(2, want, x, full, b, 1, sh.rows, sh.cols)
			for _, threads := range []int{1, 2, 3} {
				out := make([]float32, sh.rows)
				m.MatVec(out, x, b, threads)
				for i := range out {
					if math.Float32bits(out[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%+v bias %v threads %d: row %d = %v, want %v", sh, b != nil, threads, i, out[i], want[i])
					}
				}
			}
		}
		row := make([]float32, sh.cols)
		for r := 0; r < sh.rows; r++ {
			if err := m.row(r, row); err != nil {
				t.Fatal(err)
			}
			for k, v := range row {
				if math.Float32bits(v) != math.Float32bits(full[r*sh.cols+k]) {
					t.Fatalf("%+v: row %d col %d = %v, want %v", sh, r, k, v, full[r*sh.cols+k])
				}
			}
		}
	}
}
