//go:build amd64

#include "textflag.h"

// ROUND16 rounds the four float64 lanes of Y0 to binary16 into Y1 (uses
// Y1..Y6 and the constants in Y8..Y15 set up by the function prologue).
#define ROUND16 \
	VPSRLQ    $42, Y0, Y1 \
	VPAND     Y10, Y1, Y1 \
	VPADDQ    Y8, Y1, Y1 \
	VPADDQ    Y0, Y1, Y1 \
	VPAND     Y9, Y1, Y1 \
	VANDPD    Y11, Y0, Y3 \
	VXORPD    Y3, Y0, Y6 \
	VADDPD    Y13, Y0, Y2 \
	VSUBPD    Y13, Y2, Y2 \
	VORPD     Y6, Y2, Y2 \
	VCMPPD    $1, Y12, Y3, Y4 \
	VBLENDVPD Y4, Y2, Y1, Y1 \
	VCMPPD    $13, Y14, Y3, Y5 \
	VORPD     Y15, Y6, Y6 \
	VBLENDVPD Y5, Y6, Y1, Y1

// func f16FMAStepsAVX2(x, y *float32, steps int, acc *float64, reduce bool)
//
// When called through f16Dot32, the 32 lanes are then reduced in fp16:
// lanes 0-7 += 16-23, 8-15 += 24-31, 0-7 += 8-15 (vaddq_f16).
//
// For steps 32-element steps, lane l (0..31) of acc becomes
// fp16(acc[l] + x[32s+l]·y[32s+l]): the product and the sum are formed in
// float64 (exact for binary16 operands, as in fmaF16) and rounded to
// binary16 in the registers: normal range by rounding the float64 bits to
// 10 fraction bits (ties to even), |s| < 2^-14 by (s + 1.5·2^28) − 1.5·2^28
// (the 2^-24 subnormal grid, keeping the sign of s), |s| ≥ 65520 to ±Inf.
TEXT ·f16FMAStepsAVX2(SB), NOSPLIT, $0-33
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ steps+16(FP), CX
	MOVQ acc+24(FP), DX
	MOVBQZX reduce+32(FP), R8

	MOVQ $0x000001FFFFFFFFFF, AX
	VMOVQ AX, X8
	VPBROADCASTQ X8, Y8
	MOVQ $0xFFFFFC0000000000, AX
	VMOVQ AX, X9
	VPBROADCASTQ X9, Y9
	MOVQ $1, AX
	VMOVQ AX, X10
	VPBROADCASTQ X10, Y10
	MOVQ $0x7FFFFFFFFFFFFFFF, AX
	VMOVQ AX, X11
	VPBROADCASTQ X11, Y11
	MOVQ $0x3F10000000000000, AX
	VMOVQ AX, X12
	VPBROADCASTQ X12, Y12
	MOVQ $0x41B8000000000000, AX
	VMOVQ AX, X13
	VPBROADCASTQ X13, Y13
	MOVQ $0x40EFFE0000000000, AX
	VMOVQ AX, X14
	VPBROADCASTQ X14, Y14
	MOVQ $0x7FF0000000000000, AX
	VMOVQ AX, X15
	VPBROADCASTQ X15, Y15

	TESTQ CX, CX
	JEQ   reduction

step:
	XORQ BX, BX

	// Align the hot loop (see dotI16I8AVX2).
	PCALIGN $64

group:
	VMOVUPD   (DX)(BX*8), Y0
	VCVTPS2PD (SI)(BX*4), Y1
	VCVTPS2PD (DI)(BX*4), Y2
	VMULPD    Y2, Y1, Y1
	VADDPD    Y1, Y0, Y0

	ROUND16
	VMOVUPD   Y1, (DX)(BX*8)

	ADDQ $4, BX
	CMPQ BX, $32
	JLT  group

	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  step

reduction:
	TESTQ R8, R8
	JEQ   done
	VMOVUPD 0(DX), Y0
	VADDPD  128(DX), Y0, Y0
	ROUND16
	VMOVUPD Y1, 0(DX)
	VMOVUPD 32(DX), Y0
	VADDPD  160(DX), Y0, Y0
	ROUND16
	VMOVUPD Y1, 32(DX)
	VMOVUPD 64(DX), Y0
	VADDPD  192(DX), Y0, Y0
	ROUND16
	VMOVUPD Y1, 64(DX)
	VMOVUPD 96(DX), Y0
	VADDPD  224(DX), Y0, Y0
	ROUND16
	VMOVUPD Y1, 96(DX)
	VMOVUPD 0(DX), Y0
	VADDPD  64(DX), Y0, Y0
	ROUND16
	VMOVUPD Y1, 0(DX)
	VMOVUPD 32(DX), Y0
	VADDPD  96(DX), Y0, Y0
	ROUND16
	VMOVUPD Y1, 32(DX)

done:
	VZEROUPPER
	RET
