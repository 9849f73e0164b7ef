//go:build unix

package runtime

import "github.com/qnnkit/qnnkit/pkg/mmapfile"

// allocWeights returns n bytes of zeroed memory outside the Go heap
// (mmapfile.Anon) and the function that unmaps it. Large long-lived
// weights go there so that they do not raise the garbage collector's heap
// goal. On failure it falls back to the Go heap.
func allocWeights(n int) ([]byte, func()) {
	b, err := mmapfile.Anon(n)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b, func() { mmapfile.FreeAnon(b) }
}
