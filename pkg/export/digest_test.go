package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// WriteDigest writes the bytes EncodeMLLM and pth.Save write, and returns
// their size and SHA-256.
func TestWriteDigest(t *testing.T) {
	bf := tensor.FromBytes("b.bf16", tensor.BF16, []int{2, 2}, []byte{0x80, 0x3f, 0, 0xc0, 0, 0, 0x80, 0x7f})
	states := map[string]State{
		"mixed": {
			tensor.FromBytes("a.weight", tensor.I8, []int{3, 2}, []byte{1, 2, 3, 4, 5, 6}),
			scalarF32("a.weight.scale", 0.01),
			bf,
			tensor.FromFloat32("c_weight", []int{5}, []float32{1, 2, 3, 4, 5}),
			scalarBool("a.clip_input", true),
		},
		"empty": {},
		// Writes of 1 MB and more are hashed on another goroutine.
		"large": {
			scalarF32("a.weight.scale", 0.5),
			tensor.FromFloat32("big.weight", []int{400, 1000}, bigValues(400*1000)),
			tensor.FromBytes("z.i8", tensor.I8, []int{3}, []byte{7, 8, 9}),
		},
	}
	for name, s := range states {
		for _, f := range []Format{MLLM, PTH} {
			t.Run(name+"/"+string(f), func(t *testing.T) {
				dir := t.TempDir()
				p := filepath.Join(dir, "m."+string(f))
				d, err := WriteDigest(p, f, s)
				if err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(got)
				if d.Size != int64(len(got)) || d.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("digest %+v, file has %d bytes, sha256 %x", d, len(got), sum)
				}
				// The reference writers, into a file of the same name.
				ref := filepath.Join(t.TempDir(), "m."+string(f))
				if f == MLLM {
					af, err := atomicfile.Create(ref)
					if err != nil {
						t.Fatal(err)
					}
					if err := EncodeMLLM(af, s); err != nil {
						t.Fatal(err)
					}
					if err := af.Commit(); err != nil {
						t.Fatal(err)
					}
				} else {
					dict := &pth.Dict{}
					for _, x := range s {
						dict.Keys = append(dict.Keys, x.Name)
						dict.Values = append(dict.Values, x)
					}
					if err := pth.Save(ref, dict); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(ref)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("WriteDigest wrote %d bytes, the reference writer %d, different", len(got), len(want))
				}
			})
		}
	}
}

// bigValues returns n distinct float32 values.
func bigValues(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i%1000)*0.001 - float32(i/1000)
	}
	return v
}
