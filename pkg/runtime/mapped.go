package runtime

import (
	"encoding/binary"
	"math"
	goruntime "runtime"
	"unsafe"
)

// Model files are memory mapped (pkg/mllmfmt): their large tensors are used
// where they lie instead of being copied into the Go heap, so a loaded
// model costs the pages of the file that are touched (shared with the page
// cache, reclaimable) and not a second, private copy.

// aliasF32 reports whether little-endian float32 data in a byte slice can
// be read in place: the machine is little-endian and either the bytes are
// 4-byte aligned or the architecture loads unaligned float32 values
// (.mllm tensors start at any byte offset). Unaligned pointers to
// pointer-free types are also accepted by the checkptr instrumentation.
func aliasF32(b []byte) bool {
	if len(b) == 0 || binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return false
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return true
	}
	switch goruntime.GOARCH {
	case "amd64", "386", "arm64", "ppc64le":
		return true
	}
	return false
}

// f32View returns the little-endian float32 values of b (len(b) a multiple
// of 4): a view of b when aliasF32 allows it, else a decoded copy. The
// view is read-only when b is a read-only map.
func f32View(b []byte) []float32 {
	n := len(b) / 4
	if aliasF32(b) {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// i8View returns b as int8 values (a view, no copy).
func i8View(b []byte) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}
