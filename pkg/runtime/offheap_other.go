//go:build !unix

package runtime

// allocWeights returns n bytes on the Go heap (no anonymous maps here) and
// a no-op release.
func allocWeights(n int) ([]byte, func()) { return make([]byte, n), func() {} }
