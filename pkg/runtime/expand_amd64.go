//go:build amd64

package runtime

import "github.com/qnnkit/qnnkit/pkg/quant"

// q4kExpandAVX2 dequantizes one Q4_K super-block: qs is its 128 bytes of
// 4-bit codes, dm holds (d·sc, dmin·m) of its 8 sub-blocks.
//
//go:noescape
func q4kExpandAVX2(dst *float32, qs *byte, dm *[16]float32)

// expandQ4KArch is expandQ4K with AVX2; it reports false (and does
// nothing) without it.
func expandQ4KArch(dst []float32, src []byte) bool {
	if !haveAVX2 {
		return false
	}
	nb := len(src) / quant.BlockQ4KBytes
	if nb == 0 {
		return true
	}
	_ = dst[nb*quant.QK_K-1]
	var dm [16]float32
	for i := range nb {
		b := src[i*quant.BlockQ4KBytes : (i+1)*quant.BlockQ4KBytes]
		q4kBlockScales(&dm, b)
		q4kExpandAVX2(&dst[i*quant.QK_K], &b[16], &dm)
	}
	return true
}
