//go:build unix

package runtime

import "golang.org/x/sys/unix"

// allocWeights returns n bytes of zeroed memory outside the Go heap (an
// anonymous private map) and the function that unmaps it. Large long-lived
// weights go there so that they do not raise the garbage collector's heap
// goal (with GOGC=100 a live heap of W bytes lets W bytes of garbage
// accumulate). On failure it falls back to the Go heap.
func allocWeights(n int) ([]byte, func()) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b, func() { unix.Munmap(b) }
}
