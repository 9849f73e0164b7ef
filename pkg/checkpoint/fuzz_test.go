package checkpoint

import (
	"encoding/binary"
	"os"
	"testing"
)

// FuzzParseSafetensors: arbitrary bytes give an error or tensors whose
// data is exactly NumBytes long, inside the image, never a panic.
func FuzzParseSafetensors(f *testing.F) {
	hdr := `{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"I8","shape":[],"data_offsets":[8,9]}}`
	seed := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	seed = append(append(seed, hdr...), 1, 2, 3, 4, 5, 6, 7, 8, 9)
	f.Add(seed)
	f.Add(seed[:20])
	if raw, err := os.ReadFile("../../testdata/tinyqwen2/model.safetensors"); err == nil {
		n := 8 + binary.LittleEndian.Uint64(raw)
		f.Add(raw[:n+1024]) // header of a real file, data truncated
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := ParseSafetensors(data)
		if err != nil {
			return
		}
		for _, x := range ts {
			b, err := x.Data()
			if err != nil {
				t.Fatalf("tensor %q: %v", x.Name, err)
			}
			if int64(len(b)) != x.NumBytes() {
				t.Fatalf("tensor %q: %d bytes, want %d", x.Name, len(b), x.NumBytes())
			}
		}
	})
}
