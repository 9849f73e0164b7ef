//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package calib

import (
	"runtime"
	"unsafe"

	"github.com/qnnkit/qnnkit/pkg/mmapfile"
)

// mmapMinKeys is the candidate-buffer size (16 KiB) from which buffers
// are taken from anonymous memory maps instead of the Go heap: they then
// do not raise the garbage collector's heap target (which would add about
// as much again to the peak RSS), and untouched pages cost nothing.
const mmapMinKeys = 1 << 12

// allocKeys returns an empty candidate buffer of capacity n whose mapping
// is released when owner becomes unreachable.
func allocKeys(owner *accum, n int) []uint32 {
	if n < mmapMinKeys {
		return make([]uint32, 0, n)
	}
	b := mapBytes(owner, n*4)
	if b == nil {
		return make([]uint32, 0, n)
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), n)[:0]
}

// mapBytes reserves n bytes of anonymous memory (mmapfile.Anon), unmapped
// when owner becomes unreachable; nil when the mapping fails. Pages are
// backed by memory only once written.
func mapBytes(owner *accum, n int) []byte {
	if n <= 0 {
		return nil
	}
	b, err := mmapfile.Anon(n)
	if err != nil {
		return nil
	}
	runtime.AddCleanup(owner, mmapfile.FreeAnon, b)
	return b
}
