package export

import (
	"github.com/qnnkit/qnnkit/pkg/manifest"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
)

// Digest is the size and SHA-256 of a file, computed from the bytes as
// they were written (so the file need not be read back to hash it).
type Digest struct {
	Size   int64
	SHA256 string // hex; "" when a write failed part-way (read the file instead)
}

// digestOf is the Digest of what hw hashed.
func digestOf(hw *manifest.HashWriter) Digest {
	size, sum, ok := hw.Sum()
	if !ok {
		return Digest{Size: size}
	}
	return Digest{Size: size, SHA256: sum}
}

// mllmLayout is the dtype code and byte size of each of s's tensors in
// the .mllm file (MLLMCode; float32 values for code F32).
func mllmLayout(s State) ([]mllmfmt.DType, []uint64) {
	codes := make([]mllmfmt.DType, len(s))
	sizes := make([]uint64, len(s))
	for i, t := range s {
		codes[i] = MLLMCode(t.DType)
		sizes[i] = uint64(t.NumBytes())
		if codes[i] == mllmfmt.F32 {
			sizes[i] = 4 * uint64(t.NumElements())
		}
	}
	return codes, sizes
}
