package quant

// QuantizeQ4_0 quantizes x (a multiple of QK4_0 values) into Q4_0 blocks,
// exactly as quantize_row_q4_0_reference: d = max/−8 where max is the
// value of largest magnitude (the first on ties), q = min(15,
// trunc(x·(1/d) + 8.5)). dst must be len(x)/QK4_0*BlockQ4_0Bytes bytes.
func QuantizeQ4_0(dst []byte, x []float32) {
	nb := checkBlocks("QuantizeQ4_0", len(x), QK4_0, len(dst), BlockQ4_0Bytes)
	if nb == 0 {
		return
	}
	quantizeQ4_0Generic(dst, x, quantizeQ4_0Fast(dst, x, nb), nb)
}

// quantizeQ4_0Generic quantizes blocks from..nb-1 of x into dst.
func quantizeQ4_0Generic(dst []byte, x []float32, from, nb int) {
	for i := from; i < nb; i++ {
		xb := x[i*QK4_0 : (i+1)*QK4_0]
		y := dst[i*BlockQ4_0Bytes : (i+1)*BlockQ4_0Bytes]
		var amax, max float32
		for _, v := range xb {
			if amax < abs32(v) {
				amax = abs32(v)
				max = v
			}
		}
		d := max / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(y, d)
		for j := range QK4_0 / 2 {
			x0 := float32(xb[j] * id)
			x1 := float32(xb[QK4_0/2+j] * id)
			xi0 := min(15, uint8(int8(x0+8.5)))
			xi1 := min(15, uint8(int8(x1+8.5)))
			y[2+j] = xi0 | xi1<<4
		}
	}
}

// DequantizeQ4_0 expands Q4_0 blocks: y = (nibble − 8)·d.
func DequantizeQ4_0(dst []float32, src []byte) {
	nb := checkBlocks("DequantizeQ4_0", len(dst), QK4_0, len(src), BlockQ4_0Bytes)
	for i := range nb {
		b := src[i*BlockQ4_0Bytes : (i+1)*BlockQ4_0Bytes]
		y := dst[i*QK4_0 : (i+1)*QK4_0]
		d := getF16(b)
		for j := range QK4_0 / 2 {
			y[j] = float32(int(b[2+j]&0xF)-8) * d
			y[j+QK4_0/2] = float32(int(b[2+j]>>4)-8) * d
		}
	}
}
