//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package calib

// mmapMinKeys is kept for symmetry with the memory-mapped variant.
const mmapMinKeys = 1 << 12

// allocKeys returns an empty candidate buffer of capacity n.
func allocKeys(_ *accum, n int) []uint32 { return make([]uint32, 0, n) }

// mapBytes has no anonymous mappings here: slots come from the heap.
func mapBytes(*accum, int) []byte { return nil }
