//go:build !amd64

package rotate

// bestKernels returns nil: without assembly primitives every operator runs
// on the generic code.
func bestKernels() *fwhtKernels { return nil }
