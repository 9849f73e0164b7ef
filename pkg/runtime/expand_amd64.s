#include "textflag.h"

DATA q4kNibble<>+0(SB)/4, $15
GLOBL q4kNibble<>(SB), RODATA|NOPTR, $4

// func q4kExpandAVX2(dst *float32, qs *byte, dm *[16]float32)
// One Q4_K super-block: for each of 4 groups of 32 bytes of qs, the low
// nibbles give dst[64g..64g+31] = float32(q·d1) − m1 and the high nibbles
// dst[64g+32..64g+63] = float32(q·d2) − m2, (d1, m1, d2, m2) = dm[4g..4g+3].
TEXT ·q4kExpandAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ qs+8(FP), SI
	MOVQ dm+16(FP), DX
	VPBROADCASTD q4kNibble<>(SB), Y15
	MOVQ $4, CX

group:
	VBROADCASTSS 0(DX), Y10
	VBROADCASTSS 4(DX), Y11
	VBROADCASTSS 8(DX), Y12
	VBROADCASTSS 12(DX), Y13

#define STEP(qoff, loff, hoff) \
	VPMOVZXBD qoff(SI), Y0; \
	VPAND     Y15, Y0, Y1; \
	VPSRLD    $4, Y0, Y2; \
	VCVTDQ2PS Y1, Y1; \
	VCVTDQ2PS Y2, Y2; \
	VMULPS    Y10, Y1, Y1; \
	VMULPS    Y12, Y2, Y2; \
	VSUBPS    Y11, Y1, Y1; \
	VSUBPS    Y13, Y2, Y2; \
	VMOVUPS   Y1, loff(DI); \
	VMOVUPS   Y2, hoff(DI)

	STEP(0, 0, 128)
	STEP(8, 32, 160)
	STEP(16, 64, 192)
	STEP(24, 96, 224)

	ADDQ $32, SI
	ADDQ $256, DI
	ADDQ $16, DX
	DECQ CX
	JNZ  group
	VZEROUPPER
	RET
