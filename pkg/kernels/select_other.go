//go:build !amd64

package kernels

// best is the implementation used by the exported functions.
var best = generic
