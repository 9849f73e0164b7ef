//go:build amd64

#include "textflag.h"

// Integer kernels of the decoder dot products (see vecdot.go). All of them
// are exact: products are formed in int16 (unsigned nibble × int8 through
// VPMADDUBSW, whose pair sums are at most 2·15·128 and cannot saturate) or
// by sign-extending to int16 and VPMADDWD, and summed in int32.

// func q4kSumsAVX2(w, a *byte, nb int, out *int32)
TEXT ·q4kSumsAVX2(SB), NOSPLIT, $0-32
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), DX
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x00010001, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	TESTQ CX, CX
	JEQ  q4kdone

q4kloop:
	// chunk 0: qs[0:32] (block offset 16), q8[0:32] and q8[32:64] (offset 4)
	VMOVDQU    16(SI), Y1
	VPAND      Y15, Y1, Y2
	VPSRLW     $4, Y1, Y3
	VPAND      Y15, Y3, Y3
	VPMADDUBSW 4(DI), Y2, Y2
	VPMADDWD   Y14, Y2, Y6
	VPMADDUBSW 36(DI), Y3, Y3
	VPMADDWD   Y14, Y3, Y7

	// chunk 1
	VMOVDQU    48(SI), Y1
	VPAND      Y15, Y1, Y2
	VPSRLW     $4, Y1, Y3
	VPAND      Y15, Y3, Y3
	VPMADDUBSW 68(DI), Y2, Y2
	VPMADDWD   Y14, Y2, Y8
	VPMADDUBSW 100(DI), Y3, Y3
	VPMADDWD   Y14, Y3, Y9

	// chunk 2
	VMOVDQU    80(SI), Y1
	VPAND      Y15, Y1, Y2
	VPSRLW     $4, Y1, Y3
	VPAND      Y15, Y3, Y3
	VPMADDUBSW 132(DI), Y2, Y2
	VPMADDWD   Y14, Y2, Y10
	VPMADDUBSW 164(DI), Y3, Y3
	VPMADDWD   Y14, Y3, Y11

	// chunk 3
	VMOVDQU    112(SI), Y1
	VPAND      Y15, Y1, Y2
	VPSRLW     $4, Y1, Y3
	VPAND      Y15, Y3, Y3
	VPMADDUBSW 196(DI), Y2, Y2
	VPMADDWD   Y14, Y2, Y12
	VPMADDUBSW 228(DI), Y3, Y3
	VPMADDWD   Y14, Y3, Y13

	// horizontal sums of Y6..Y13 into eight int32
	VPHADDD      Y7, Y6, Y0
	VPHADDD      Y9, Y8, Y1
	VPHADDD      Y1, Y0, Y0
	VPHADDD      Y11, Y10, Y2
	VPHADDD      Y13, Y12, Y3
	VPHADDD      Y3, Y2, Y2
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VEXTRACTI128 $1, Y2, X3
	VPADDD       X3, X2, X2
	VMOVDQU      X0, (DX)
	VMOVDQU      X2, 16(DX)

	ADDQ $144, SI
	ADDQ $292, DI
	ADDQ $32, DX
	DECQ CX
	JNZ  q4kloop

q4kdone:
	VZEROUPPER
	RET

// func q80LanesAVX2(w, a *byte, nb int, out *int32)
TEXT ·q80LanesAVX2(SB), NOSPLIT, $0-32
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), DX
	TESTQ CX, CX
	JEQ  q80done

q80loop:
	VPMOVSXBW    2(SI), Y1
	VPMOVSXBW    18(SI), Y2
	VPMOVSXBW    2(DI), Y3
	VPMOVSXBW    18(DI), Y4
	VPMADDWD     Y3, Y1, Y1
	VPMADDWD     Y4, Y2, Y2
	VPADDD       Y2, Y1, Y1
	VPHADDD      Y1, Y1, Y1
	VEXTRACTI128 $1, Y1, X2
	VPUNPCKLQDQ  X2, X1, X1
	VMOVDQU      X1, (DX)

	ADDQ $34, SI
	ADDQ $34, DI
	ADDQ $16, DX
	DECQ CX
	JNZ  q80loop

q80done:
	VZEROUPPER
	RET

// func q40LanesAVX2(w, a *byte, nb int, out *int32)
TEXT ·q40LanesAVX2(SB), NOSPLIT, $0-32
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), DI
	MOVQ nb+16(FP), CX
	MOVQ out+24(FP), DX
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x08080808, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	TESTQ CX, CX
	JEQ  q40done

q40loop:
	VMOVDQU      2(SI), X1
	VPAND        X15, X1, X2
	VPSRLW       $4, X1, X3
	VPAND        X15, X3, X3
	VPSUBB       X13, X2, X2
	VPSUBB       X13, X3, X3
	VPMOVSXBW    X2, Y1
	VPMOVSXBW    X3, Y2
	VPMOVSXBW    2(DI), Y3
	VPMOVSXBW    18(DI), Y4
	VPMADDWD     Y3, Y1, Y1
	VPMADDWD     Y4, Y2, Y2
	VPADDD       Y2, Y1, Y1
	VPHADDD      Y1, Y1, Y1
	VEXTRACTI128 $1, Y1, X2
	VPUNPCKLQDQ  X2, X1, X1
	VMOVDQU      X1, (DX)

	ADDQ $18, SI
	ADDQ $34, DI
	ADDQ $16, DX
	DECQ CX
	JNZ  q40loop

q40done:
	VZEROUPPER
	RET
