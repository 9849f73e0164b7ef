//go:build amd64

#include "textflag.h"

// func quantInt8AVX2(dst *int8, src *float32, n int, scale float32)
// 32 values per iteration: q = w/scale (VDIVPS, IEEE like the scalar
// division), nearestInt(q) = bits(q + 12582912) & 0x7fffff - 0x400000,
// then int32 → int16 → int8 with signed saturation (the clamp to
// [-128, 127]); VPERMD undoes the packs' lane interleaving.
TEXT ·quantInt8AVX2(SB), NOSPLIT, $0-28
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y15
	MOVL $0x4B400000, AX // 12582912.0
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x007FFFFF, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x00400000, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	VMOVDQU perm<>(SB), Y11
	SHRQ $5, CX
	JEQ  done

loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VDIVPS  Y15, Y0, Y0
	VDIVPS  Y15, Y1, Y1
	VDIVPS  Y15, Y2, Y2
	VDIVPS  Y15, Y3, Y3
	VADDPS  Y14, Y0, Y0
	VADDPS  Y14, Y1, Y1
	VADDPS  Y14, Y2, Y2
	VADDPS  Y14, Y3, Y3
	VPAND   Y13, Y0, Y0
	VPAND   Y13, Y1, Y1
	VPAND   Y13, Y2, Y2
	VPAND   Y13, Y3, Y3
	VPSUBD  Y12, Y0, Y0
	VPSUBD  Y12, Y1, Y1
	VPSUBD  Y12, Y2, Y2
	VPSUBD  Y12, Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD  Y0, Y11, Y0
	VMOVDQU Y0, (DI)
	ADDQ $128, SI
	ADDQ $32, DI
	DECQ CX
	JNE  loop

done:
	VZEROUPPER
	RET

DATA perm<>+0(SB)/4, $0
DATA perm<>+4(SB)/4, $4
DATA perm<>+8(SB)/4, $1
DATA perm<>+12(SB)/4, $5
DATA perm<>+16(SB)/4, $2
DATA perm<>+20(SB)/4, $6
DATA perm<>+24(SB)/4, $3
DATA perm<>+28(SB)/4, $7
GLOBL perm<>(SB), RODATA|NOPTR, $32
