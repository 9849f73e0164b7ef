//go:build !amd64

package quant

func quantizeQ4KBlocks(dst []byte, x []float32, nb int) { quantizeQ4KGeneric(dst, x, nb) }
