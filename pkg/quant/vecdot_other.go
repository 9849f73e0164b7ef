//go:build !amd64

package quant

import "unsafe"

// haveAVX2 is false off amd64: the portable integer loops are used.
const haveAVX2 = false

// The functions below keep the SIMD call sites compiling; they are never
// reached because haveAVX2 is false, and they compute the same integers.

func q4kSumsAVX2(w, a *byte, nb int, out *int32) {
	ws := unsafe.Slice(w, nb*BlockQ4KBytes)
	as := unsafe.Slice(a, nb*BlockQ8KBytes)
	o := unsafe.Slice(out, 8*nb)
	for i := 0; i < nb; i++ {
		q4kSumsGeneric(ws[i*BlockQ4KBytes+16:], as[i*BlockQ8KBytes+4:], (*[8]int32)(o[8*i:]))
	}
}

func q40LanesAVX2(w, a *byte, nb int, out *int32) {
	ws := unsafe.Slice(w, nb*BlockQ4_0Bytes)
	as := unsafe.Slice(a, nb*BlockQ8_0Bytes)
	o := unsafe.Slice(out, 4*nb)
	for i := 0; i < nb; i++ {
		q40Lanes(ws[i*BlockQ4_0Bytes:], as[i*BlockQ8_0Bytes:], (*[4]int32)(o[4*i:]))
	}
}

func q80LanesAVX2(w, a *byte, nb int, out *int32) {
	ws := unsafe.Slice(w, nb*BlockQ8_0Bytes)
	as := unsafe.Slice(a, nb*BlockQ8_0Bytes)
	o := unsafe.Slice(out, 4*nb)
	for i := 0; i < nb; i++ {
		q80Lanes(ws[i*BlockQ8_0Bytes:], as[i*BlockQ8_0Bytes:], (*[4]int32)(o[4*i:]))
	}
}
