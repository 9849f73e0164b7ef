//go:build !amd64

package runtime

// dotI16I8 is the exact integer dot product Σ x[k]·w[k].
func dotI16I8(x []int16, w []int8) int64 { return dotI16I8Generic(x, w) }
