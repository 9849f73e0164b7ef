//go:build amd64

#include "textflag.h"

// func dotI16I8AVX2(x *int16, w *int8, n int) int64
// n is a multiple of 16. Products are formed exactly by VPMADDWD on int16
// (weights sign-extended); each int32 lane takes at most 128 iterations
// (|lane| ≤ 128·2·32768·128 < 2^31) before being widened to int64.
TEXT ·dotI16I8AVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	SHRQ $4, CX

outer:
	TESTQ CX, CX
	JEQ   done
	MOVQ  $128, BX
	CMPQ  CX, BX
	CMOVQLT CX, BX
	SUBQ  BX, CX
	VPXOR Y0, Y0, Y0

	// The loop is 7 instructions: keep it inside one 64-byte block, or
	// its speed depends on where the linker happens to place the function
	// (measured: 2x slower when it straddled a boundary).
	PCALIGN $64

inner:
	VMOVDQU   (SI), Y1
	VPMOVSXBW (DI), Y2
	VPMADDWD  Y2, Y1, Y1
	VPADDD    Y1, Y0, Y0
	ADDQ      $32, SI
	ADDQ      $16, DI
	DECQ      BX
	JNZ       inner

	VEXTRACTI128 $1, Y0, X1
	VPMOVSXDQ    X0, Y2
	VPMOVSXDQ    X1, Y3
	VPADDQ       Y3, Y2, Y2
	VEXTRACTI128 $1, Y2, X3
	VPADDQ       X3, X2, X2
	VPSHUFD      $0x4E, X2, X3
	VPADDQ       X3, X2, X2
	VMOVQ        X2, DX
	ADDQ         DX, AX
	JMP          outer

done:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
