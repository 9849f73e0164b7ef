//go:build amd64

#include "textflag.h"

// func bf16ToF32AVX2(dst *float32, src *byte, n int) bool
// 16 values per iteration: zero-extend each uint16 to 32 bits and shift it
// to the top half (bf16 is the top half of a float32); OR together the
// lanes whose exponent bits (0x7f80) are all ones.
TEXT ·bf16ToF32AVX2(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL $0x7F807F80, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	VPXOR Y14, Y14, Y14
	SHRQ $4, CX
	JEQ  done

loop:
	VMOVDQU   (SI), Y0
	VPAND     Y15, Y0, Y1
	VPCMPEQW  Y15, Y1, Y1
	VPOR      Y1, Y14, Y14
	VPMOVZXWD (SI), Y2
	VPMOVZXWD 16(SI), Y3
	VPSLLD    $16, Y2, Y2
	VPSLLD    $16, Y3, Y3
	VMOVDQU   Y2, (DI)
	VMOVDQU   Y3, 32(DI)
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNE  loop

done:
	VPTEST Y14, Y14
	SETNE  ret+24(FP)
	VZEROUPPER
	RET

// func f32CopyAVX2(dst *float32, src *byte, n int) bool
// 16 float32 per iteration: copy them and OR together the lanes whose
// exponent bits (0x7f800000) are all ones (NaN or ±Inf).
TEXT ·f32CopyAVX2(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL $0x7F800000, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	VPXOR Y14, Y14, Y14
	SHRQ $4, CX
	JEQ  f32done

	PCALIGN $64

f32loop:
	VMOVDQU  (SI), Y0
	VMOVDQU  32(SI), Y1
	VMOVDQU  Y0, (DI)
	VMOVDQU  Y1, 32(DI)
	VPAND    Y15, Y0, Y0
	VPAND    Y15, Y1, Y1
	VPCMPEQD Y15, Y0, Y0
	VPCMPEQD Y15, Y1, Y1
	VPOR     Y0, Y14, Y14
	VPOR     Y1, Y14, Y14
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNE  f32loop

f32done:
	VPTEST Y14, Y14
	SETNE  ret+24(FP)
	VZEROUPPER
	RET
