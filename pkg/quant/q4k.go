package quant

// makeQKX2Quants is ggml's make_qkx2_quants: the weighted least-squares
// search for a (scale, min) pair over nstep+1 candidate inverse scales.
// It fills L (and uses Laux as scratch) and returns the scale and
// the_min (= −min, ≥ 0). Every float32 operation follows the C order.
func makeQKX2Quants(nmax int, x, weights []float32, L, Laux []uint8, rmin, rdelta float32, nstep int) (scale, theMin float32) {
	n := len(x)
	min, max := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max == min {
		for i := range n {
			L[i] = 0
		}
		return 0, -min
	}
	fnmax := float32(nmax)
	iscale := fnmax / (max - min)
	scale = 1 / iscale
	var bestMad float32
	for i := range n {
		l := nearestInt(float32(iscale * (x[i] - min)))
		L[i] = uint8(clampInt(l, 0, nmax))
		diff := float32(scale*float32(L[i])) + min - x[i]
		diff = float32(diff * diff)
		bestMad += float32(weights[i] * diff)
	}
	if nstep < 1 {
		return scale, -min
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + fnmax) / (max - min)
		var sumL, sumL2, sumXL float32
		for i := range n {
			l := clampInt(nearestInt(float32(iscale*(x[i]-min))), 0, nmax)
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			wl := float32(w * fl)
			sumL += wl
			sumL2 += float32(wl * fl)
			sumXL += float32(wl * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var mad float32
			for i := range n {
				diff := float32(thisScale*float32(Laux[i])) + thisMin - x[i]
				diff = float32(diff * diff)
				mad += float32(weights[i] * diff)
			}
			if mad < bestMad {
				copy(L[:n], Laux[:n])
				bestMad = mad
				scale = thisScale
				min = thisMin
			}
		}
	}
	return scale, -min
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// getScaleMinK4 unpacks the 6-bit scale and min of sub-block j from the
// 12 packed bytes of a Q4_K block (ggml's get_scale_min_k4).
func getScaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return (q[j+4] & 0xF) | ((q[j-4] >> 6) << 4), (q[j+4] >> 4) | ((q[j] >> 6) << 4)
}

// QuantizeQ4K quantizes x (a multiple of QK_K values) into Q4_K
// super-blocks, exactly as ggml's quantize_row_q4_K_reference (which is what
// mllm's quantize tool calls). dst must be len(x)/QK_K*BlockQ4KBytes bytes.
// On amd64 with AVX2 the eight sub-blocks of a super-block are searched in
// SIMD lanes (q4k_amd64.go), with the same bytes as the portable code.
func QuantizeQ4K(dst []byte, x []float32) {
	nb := checkBlocks("QuantizeQ4K", len(x), QK_K, len(dst), BlockQ4KBytes)
	quantizeQ4KBlocks(dst, x, nb)
}

// quantizeQ4KGeneric is the portable QuantizeQ4K: the C code line by line.
func quantizeQ4KGeneric(dst []byte, x []float32, nb int) {
	var (
		L       [QK_K]uint8
		Laux    [32]uint8
		weights [32]float32
		mins    [QK_K / 32]float32
		scales  [QK_K / 32]float32
	)
	for i := range nb {
		xb := x[i*QK_K : (i+1)*QK_K]
		y := dst[i*BlockQ4KBytes : (i+1)*BlockQ4KBytes]
		for j := range QK_K / 32 {
			xs := xb[32*j : 32*j+32]
			var sumX2 float32
			for l := range 32 {
				sumX2 += float32(xs[l] * xs[l])
			}
			avX := sqrt32(sumX2 / 32)
			for l := range 32 {
				weights[l] = avX + abs32(xs[l])
			}
			scales[j], mins[j] = makeQKX2Quants(15, xs, weights[:], L[32*j:32*j+32], Laux[:], -1, 0.1, 20)
		}
		d, dmin := q4kPackScales(y, &scales, &mins)
		sc := y[4:16]
		for j := range QK_K / 32 {
			s, m := getScaleMinK4(j, sc)
			dj := float32(d * float32(s))
			if dj == 0 {
				continue
			}
			dm := float32(dmin * float32(m))
			for ii := range 32 {
				l := nearestInt((xb[32*j+ii] + dm) / dj)
				L[32*j+ii] = uint8(clampInt(l, 0, 15))
			}
		}
		q := y[16:]
		for j := 0; j < QK_K; j += 64 {
			for l := range 32 {
				q[l] = L[j+l] | (L[j+l+32] << 4)
			}
			q = q[32:]
		}
	}
}

// q4kPackScales writes the fp16 d and dmin and the twelve packed 6-bit
// scale/min bytes of a Q4_K block (y[0:16]) from the eight sub-block scales
// and mins, and returns d and dmin as stored.
func q4kPackScales(y []byte, scales, mins *[QK_K / 32]float32) (d, dmin float32) {
	var maxScale, maxMin float32
	for j := range QK_K / 32 {
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := y[4:16]
	for j := range QK_K / 32 {
		ls := uint8(nearestInt(float32(invScale * scales[j])))
		lm := uint8(nearestInt(float32(invMin * mins[j])))
		ls = min(63, ls)
		lm = min(63, lm)
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = (ls & 0xF) | ((lm & 0xF) << 4)
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	putF16(y[0:], maxScale/63)
	putF16(y[2:], maxMin/63)
	return getF16(y[0:]), getF16(y[2:])
}

// DequantizeQ4K expands Q4_K super-blocks (dequantize_row_q4_K):
// y = d·sc·q − dmin·m per 32-value sub-block. len(dst) must be a multiple of
// QK_K and src exactly len(dst)/QK_K*BlockQ4KBytes bytes.
func DequantizeQ4K(dst []float32, src []byte) {
	nb := checkBlocks("DequantizeQ4K", len(dst), QK_K, len(src), BlockQ4KBytes)
	for i := range nb {
		b := src[i*BlockQ4KBytes : (i+1)*BlockQ4KBytes]
		y := dst[i*QK_K : (i+1)*QK_K]
		d, dmin := getF16(b[0:]), getF16(b[2:])
		sc := b[4:16]
		q := b[16:]
		is := 0
		for j := 0; j < QK_K; j += 64 {
			s, m := getScaleMinK4(is, sc)
			d1, m1 := float32(d*float32(s)), float32(dmin*float32(m))
			s, m = getScaleMinK4(is+1, sc)
			d2, m2 := float32(d*float32(s)), float32(dmin*float32(m))
			for l := range 32 {
				y[j+l] = float32(d1*float32(q[l]&0xF)) - m1
			}
			for l := range 32 {
				y[j+32+l] = float32(d2*float32(q[l]>>4)) - m2
			}
			q = q[32:]
			is += 2
		}
	}
}
