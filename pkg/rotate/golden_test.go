package rotate

import (
	"path/filepath"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// TestTorchGoldens rotates the toy models of scripts/gen_rotate_goldens.py
// with their torch-written R files and compares every weight with torch's
// rotation (spec §3.4 in float64 on CPU): within 1 ulp, the count of 1-ulp
// differences logged. tv13 is spec TV13; its logits must also match the
// unrotated model's.
func TestTorchGoldens(t *testing.T) {
	for _, tc := range []struct {
		dir    string
		logits float64 // max relative logit error allowed
	}{{"tv13", 2e-6}, {"toy96", 1e-5}} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join("../../testdata/rotate", tc.dir)
			ck, err := checkpoint.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			orig, err := model.Load(ck)
			if err != nil {
				t.Fatal(err)
			}
			rot, err := Load(filepath.Join(dir, "R.bin"))
			if err != nil {
				t.Fatal(err)
			}
			if factorHadamard(rot.R, rot.N) == nil {
				t.Fatal("torch's R is not recognised as a random Hadamard matrix")
			}
			f, err := pth.Open(filepath.Join(dir, "rotated.pth"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			want := f.Root.(*pth.Dict)
			tokens := []int{0, 7, 3, 19, 2, 30, 11, 5, 1}
			before := logits(t, orig, tokens)
			for _, o := range []options{{workers: 2}, {workers: 1, dense: true}} {
				w := cloneWeights(orig)
				if err := rotateModel(w, rot, o); err != nil {
					t.Fatal(err)
				}
				sd := w.StateDict()
				if len(sd) != want.Len() {
					t.Fatalf("%d tensors, torch has %d", len(sd), want.Len())
				}
				ones, n := 0, 0
				for _, nt := range sd {
					v, ok := want.Get(nt.Name)
					if !ok {
						t.Fatalf("torch's rotated model has no %s", nt.Name)
					}
					ref, err := v.(*tensor.Tensor).Float32()
					if err != nil {
						t.Fatal(err)
					}
					if len(ref) != len(nt.Data) {
						t.Fatalf("%s: %d values, torch %d", nt.Name, len(nt.Data), len(ref))
					}
					for i := range ref {
						n++
						switch u := ulpDiff(nt.Data[i], ref[i]); {
						case u > 1:
							t.Fatalf("%+v: %s[%d] = %v, torch %v", o, nt.Name, i, nt.Data[i], ref[i])
						case u == 1:
							ones++
						}
					}
				}
				after := logits(t, w, tokens)
				rel := relErr(before, after)
				t.Logf("%+v: %d of %d elements differ from torch by 1 ulp; max logit error %.3g relative", o, ones, n, rel)
				if rel > tc.logits {
					t.Fatalf("rotated logits differ by %.3g relative", rel)
				}
			}
		})
	}
}
