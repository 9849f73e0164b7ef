//go:build !amd64

package runtime

// expandQ4KArch reports that there is no assembly Q4_K dequantization
// here: expandQ4K uses pkg/quant's.
func expandQ4KArch(dst []float32, src []byte) bool { return false }
