//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package calib

import (
	"runtime"
	"syscall"
	"unsafe"
)

// mmapMinKeys is the candidate-buffer size (16 KiB) from which buffers
// are taken from anonymous memory maps instead of the Go heap: they then
// do not raise the garbage collector's heap target (which would add about
// as much again to the peak RSS), and untouched pages cost nothing. At 64
// samples of a small model much of the candidate memory is in buffers of
// 4K..64K keys (q/k/v/o/gate/up), so the threshold is low.
const mmapMinKeys = 1 << 12

// allocKeys returns an empty candidate buffer of capacity n owned by a:
// the mapping is released when a becomes unreachable.
func (a *accum) allocKeys(n int) []uint32 {
	if n < mmapMinKeys {
		return make([]uint32, 0, n)
	}
	b, err := syscall.Mmap(-1, 0, n*4, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]uint32, 0, n)
	}
	runtime.AddCleanup(a, func(b []byte) { syscall.Munmap(b) }, b)
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), n)[:0]
}
