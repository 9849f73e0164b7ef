//go:build amd64

#include "textflag.h"

// func q40BlocksAVX2(dst *byte, d *float32, x *float32, nb int) int
// For each block of 32 values at x: max = the first value of largest
// magnitude (+0 for an all-zero block), d = max / -8, id = 1/d (0 when d
// is 0), q = min(15, trunc(x·id + 8.5)); stores d to d[i] and the 16 bytes
// q[j] | q[j+16]<<4 to dst[18·i+2:] (block i's nibbles; Go writes its
// fp16 d in dst[18·i:]). The same float32 operations as
// QuantizeQ4_0's loop, in lanes. It stops before the first block holding
// a NaN or Inf and returns the number of blocks done.
TEXT ·q40BlocksAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	ADDQ $2, DI
	MOVQ d+8(FP), DX
	MOVQ x+16(FP), SI
	MOVQ nb+24(FP), CX
	MOVL $0x7FFFFFFF, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15 // |x| mask
	MOVL $0x41080000, AX  // 8.5
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $15, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0xC1000000, R9 // -8.0, moved into X5 where needed
	MOVL $0x3F800000, AX // 1.0
	VMOVD AX, X11
	MOVL $0x7F7FFFFF, AX // largest finite |x| bits
	VMOVD AX, X3
	VPBROADCASTD X3, Y12
	XORQ R8, R8 // blocks done
	CMPQ R8, CX
	JEQ  done

	PCALIGN $64

block:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VANDPS  Y15, Y0, Y4
	VANDPS  Y15, Y1, Y5
	VANDPS  Y15, Y2, Y6
	VANDPS  Y15, Y3, Y7
	VPCMPGTD Y12, Y4, Y8
	VPCMPGTD Y12, Y5, Y9
	VPOR     Y9, Y8, Y8
	VPCMPGTD Y12, Y6, Y9
	VPOR     Y9, Y8, Y8
	VPCMPGTD Y12, Y7, Y9
	VPOR     Y9, Y8, Y8
	VPTEST   Y8, Y8
	JNE      done // NaN or Inf: the caller finishes in Go
	VMAXPS  Y5, Y4, Y8
	VMAXPS  Y7, Y6, Y9
	VMAXPS  Y9, Y8, Y8
	VPERM2F128 $1, Y8, Y8, Y9
	VMAXPS  Y9, Y8, Y8
	VSHUFPS $0x4E, Y8, Y8, Y9
	VMAXPS  Y9, Y8, Y8
	VSHUFPS $0xB1, Y8, Y8, Y9
	VMAXPS  Y9, Y8, Y8 // amax in every lane

	// max = x[first index with |x| == amax]; +0 when amax is 0.
	VXORPS X10, X10, X10
	VUCOMISS X10, X8
	JEQ     zero
	VCMPPS  $0, Y8, Y4, Y4
	VCMPPS  $0, Y8, Y5, Y5
	VCMPPS  $0, Y8, Y6, Y6
	VCMPPS  $0, Y8, Y7, Y7
	VMOVMSKPS Y4, AX
	VMOVMSKPS Y5, BX
	SHLL    $8, BX
	ORL     BX, AX
	VMOVMSKPS Y6, BX
	SHLL    $16, BX
	ORL     BX, AX
	VMOVMSKPS Y7, BX
	SHLL    $24, BX
	ORL     BX, AX
	BSFL    AX, AX
	VMOVSS  (SI)(AX*4), X9
	VMOVD   R9, X5
	VDIVSS  X5, X9, X9 // d = max / -8
	VUCOMISS X10, X9
	JEQ     dzero
	VDIVSS  X9, X11, X10 // id = 1/d
	JMP     quant

zero:
	VMOVD  R9, X5
	VDIVSS X5, X10, X9 // d = +0 / -8 = -0, as the scalar code
	JMP    dzero

dzero:
	VXORPS X10, X10, X10 // id = 0

quant:
	VMOVSS X9, (DX)
	VBROADCASTSS X10, Y10
	VMULPS  Y10, Y0, Y0
	VMULPS  Y10, Y1, Y1
	VMULPS  Y10, Y2, Y2
	VMULPS  Y10, Y3, Y3
	VADDPS  Y14, Y0, Y0
	VADDPS  Y14, Y1, Y1
	VADDPS  Y14, Y2, Y2
	VADDPS  Y14, Y3, Y3
	VCVTTPS2DQ Y0, Y0
	VCVTTPS2DQ Y1, Y1
	VCVTTPS2DQ Y2, Y2
	VCVTTPS2DQ Y3, Y3
	VPMINSD Y13, Y0, Y0
	VPMINSD Y13, Y1, Y1
	VPMINSD Y13, Y2, Y2
	VPMINSD Y13, Y3, Y3
	VPSLLD  $4, Y2, Y2
	VPSLLD  $4, Y3, Y3
	VPOR    Y2, Y0, Y0 // bytes 0..7 as dwords
	VPOR    Y3, Y1, Y1 // bytes 8..15
	VPACKUSDW Y1, Y0, Y0
	VPERMQ  $0xD8, Y0, Y0 // words 0..15 in order
	VEXTRACTI128 $1, Y0, X1
	VPACKUSWB X1, X0, X0
	VMOVDQU X0, (DI)

	ADDQ $128, SI
	ADDQ $18, DI
	ADDQ $4, DX
	INCQ R8
	CMPQ R8, CX
	JNE  block

done:
	MOVQ R8, ret+32(FP)
	VZEROUPPER
	RET
