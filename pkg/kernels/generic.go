package kernels

// generic is the portable pure-Go implementation. It is always compiled and
// is the reference the SIMD implementation is tested against.
var generic = &impl{
	name:    "generic",
	kernel:  kernelGeneric,
	dotRows: dotRowsGeneric,
	dot3x4:  dot3x4Generic,
	packB:   packBGeneric,
	pair:    pairGeneric,
	dot:     dotGeneric,
	axpy:    axpyGeneric,
}

func kernelGeneric(kc int, a []float32, lda int, b []float32, c []float32, ldc int) {
	b = b[:kc*nr]
	for i := 0; i < mr; i++ {
		var acc [nr]float32
		ar := a[i*lda : i*lda+kc]
		for p, av := range ar {
			bp := b[p*nr : p*nr+nr : p*nr+nr]
			acc[0] += av * bp[0]
			acc[1] += av * bp[1]
			acc[2] += av * bp[2]
			acc[3] += av * bp[3]
			acc[4] += av * bp[4]
			acc[5] += av * bp[5]
			acc[6] += av * bp[6]
			acc[7] += av * bp[7]
			acc[8] += av * bp[8]
			acc[9] += av * bp[9]
			acc[10] += av * bp[10]
			acc[11] += av * bp[11]
			acc[12] += av * bp[12]
			acc[13] += av * bp[13]
			acc[14] += av * bp[14]
			acc[15] += av * bp[15]
		}
		cr := c[i*ldc : i*ldc+nr]
		for j := range cr {
			cr[j] += acc[j]
		}
	}
}

func pairGeneric(kc, kp int, a []float32, lda int, b []float32, c []float32, ldc int) {
	b = b[:(kc-1)*nr+8]
	for i := 0; i < mr; i++ {
		var acc0, acc1 [8]float32
		ar := a[i*lda : i*lda+kc]
		for p, av := range ar {
			bp := b[p*nr : p*nr+8 : p*nr+8]
			acc := &acc0
			if p < kp && p%2 == 1 {
				acc = &acc1
			}
			for j := range acc {
				acc[j] += av * bp[j]
			}
		}
		cr := c[i*ldc : i*ldc+8]
		for j := range cr {
			cr[j] += acc1[j] + acc0[j]
		}
	}
}

func packBGeneric(dst, w []float32, K, n0, cols, p0, kc int) {
	dst = dst[:kc*nr]
	for j := 0; j < cols; j++ {
		row := w[(n0+j)*K+p0 : (n0+j)*K+p0+kc]
		for p, v := range row {
			dst[p*nr+j] = v
		}
	}
	for j := cols; j < nr; j++ {
		for p := 0; p < kc; p++ {
			dst[p*nr+j] = 0
		}
	}
}

func dotRowsGeneric(out, x, w []float32, K int) {
	x = x[:K]
	for j := range out {
		out[j] = dotGeneric(x, w[j*K:j*K+K])
	}
}

func dot3x4Generic(out *[12]float32, x0, x1, x2, w []float32, K int) {
	for i, x := range [3][]float32{x0, x1, x2} {
		for j := 0; j < 4; j++ {
			out[i*4+j] = dotGeneric(x[:K], w[j*K:j*K+K])
		}
	}
}

func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGeneric(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
