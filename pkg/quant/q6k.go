package quant

// makeQXQuants is ggml's make_qx_quants for rmse_type 1 (weights x²), as
// Q6_K uses it: a symmetric quantizer to [−nmax, nmax−1] that tries 18
// perturbed inverse scales and keeps the one maximising (Σw·x·l)²/Σw·l².
// L receives l+nmax. Returns the scale.
func makeQXQuants(nmax int, x []float32, L []int8) float32 {
	n := len(x)
	var max, amax float32
	for i := range n {
		if ax := abs32(x[i]); ax > amax {
			amax = ax
			max = x[i]
		}
	}
	if amax < 1e-30 {
		for i := range n {
			L[i] = 0
		}
		return 0
	}
	fnmax := float32(nmax)
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i := range n {
		l := clampInt(nearestInt(float32(iscale*x[i])), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		fl := float32(l)
		w := float32(x[i] * x[i])
		sumlx += float32(float32(w*x[i]) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	scale := sumlx / suml2
	best := float32(scale * sumlx)
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fnmax + float32(0.1*float32(is))) / max
		sumlx, suml2 = 0, 0
		for i := range n {
			fl := float32(clampInt(nearestInt(float32(iscale*x[i])), -nmax, nmax-1))
			w := float32(x[i] * x[i])
			sumlx += float32(float32(w*x[i]) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i := range n {
				l := clampInt(nearestInt(float32(iscale*x[i])), -nmax, nmax-1)
				L[i] = int8(l + nmax)
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

// QuantizeQ6K quantizes x (a multiple of QK_K values) into Q6_K blocks,
// exactly as quantize_row_q6_K_reference. dst must be
// len(x)/QK_K*BlockQ6KBytes bytes.
//
// Layout: u8 ql[128] at 0, u8 qh[64] at 128, int8 scales[16] at 192,
// fp16 d at 208.
func QuantizeQ6K(dst []byte, x []float32) {
	nb := checkBlocks("QuantizeQ6K", len(x), QK_K, len(dst), BlockQ6KBytes)
	var (
		L      [QK_K]int8
		scales [QK_K / 16]float32
	)
	for i := range nb {
		xb := x[i*QK_K : (i+1)*QK_K]
		y := dst[i*BlockQ6KBytes : (i+1)*BlockQ6KBytes]
		var maxScale, maxAbsScale float32
		for ib := range QK_K / 16 {
			s := makeQXQuants(32, xb[16*ib:16*ib+16], L[16*ib:16*ib+16])
			scales[ib] = s
			if as := abs32(s); as > maxAbsScale {
				maxAbsScale = as
				maxScale = s
			}
		}
		if maxAbsScale == 0 {
			clear(y)
			continue
		}
		iscale := -128 / maxScale
		putF16(y[208:], 1/iscale)
		ysc := y[192:208]
		for ib := range QK_K / 16 {
			ysc[ib] = byte(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
		}
		dd := getF16(y[208:])
		for j := range QK_K / 16 {
			d := float32(dd * float32(int8(ysc[j])))
			if d == 0 {
				continue
			}
			for ii := range 16 {
				l := clampInt(nearestInt(xb[16*j+ii]/d), -32, 31)
				L[16*j+ii] = int8(l + 32)
			}
		}
		ql := y[0:128]
		qh := y[128:192]
		for j := 0; j < QK_K; j += 128 {
			for l := range 32 {
				q1 := uint8(L[j+l]) & 0xF
				q2 := uint8(L[j+l+32]) & 0xF
				q3 := uint8(L[j+l+64]) & 0xF
				q4 := uint8(L[j+l+96]) & 0xF
				ql[l] = q1 | q3<<4
				ql[l+32] = q2 | q4<<4
				qh[l] = uint8(L[j+l]>>4) | uint8(L[j+l+32]>>4)<<2 | uint8(L[j+l+64]>>4)<<4 | uint8(L[j+l+96]>>4)<<6
			}
			ql = ql[64:]
			qh = qh[32:]
		}
	}
}

// DequantizeQ6K expands Q6_K blocks (dequantize_row_q6_K).
func DequantizeQ6K(dst []float32, src []byte) {
	nb := checkBlocks("DequantizeQ6K", len(dst), QK_K, len(src), BlockQ6KBytes)
	for i := range nb {
		b := src[i*BlockQ6KBytes : (i+1)*BlockQ6KBytes]
		y := dst[i*QK_K : (i+1)*QK_K]
		d := getF16(b[208:])
		ql, qh, sc := b[0:128], b[128:192], b[192:208]
		for n := 0; n < QK_K; n += 128 {
			for l := range 32 {
				is := l / 16
				q1 := int(int8((ql[l]&0xF)|((qh[l]>>0)&3)<<4)) - 32
				q2 := int(int8((ql[l+32]&0xF)|((qh[l]>>2)&3)<<4)) - 32
				q3 := int(int8((ql[l]>>4)|((qh[l]>>4)&3)<<4)) - 32
				q4 := int(int8((ql[l+32]>>4)|((qh[l]>>6)&3)<<4)) - 32
				y[n+l] = float32(d*float32(int8(sc[is]))) * float32(q1)
				y[n+l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
				y[n+l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
				y[n+l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
			}
			ql, qh, sc = ql[64:], qh[32:], sc[8:]
		}
	}
}
