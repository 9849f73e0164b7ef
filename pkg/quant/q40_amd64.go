//go:build amd64

package quant

// q40BlocksAVX2 quantizes up to nb Q4_0 blocks of x into dst (nibbles
// only) and d (the blocks' scales as float32), stopping before a block
// with a NaN or Inf; it returns the number of blocks done.
//
//go:noescape
func q40BlocksAVX2(dst *byte, d *float32, x *float32, nb int) int

// quantizeQ4_0Fast quantizes the leading blocks it can in SIMD lanes and
// returns how many; QuantizeQ4_0 does the rest.
func quantizeQ4_0Fast(dst []byte, x []float32, nb int) int {
	if !haveAVX2 {
		return 0
	}
	const batch = 1024
	var d [batch]float32
	done := 0
	for done < nb {
		n := min(batch, nb-done)
		k := q40BlocksAVX2(&dst[done*BlockQ4_0Bytes], &d[0], &x[done*QK4_0], n)
		for i := range k {
			putF16(dst[(done+i)*BlockQ4_0Bytes:], d[i])
		}
		done += k
		if k < n {
			break
		}
	}
	return done
}
