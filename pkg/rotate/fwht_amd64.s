// AVX2 kernels for the fast Walsh–Hadamard transform (see fwht.go). Every
// lane performs exactly the scalar operations of hadamard.apply on one
// element (a+b, a−b, ×r, float32↔float64 conversions, sign flips as
// sign-bit XORs); no FMA is used. Selected at run time only when the CPU
// (and OS) support AVX2; see fwht_amd64.go.

#include "textflag.h"

// One element group of loadSign12: 4 float32 at off(SI) → float64, XOR the
// sign masks at off2(BX), then stages 1 and 2 inside the register, stored
// at off2(DI). Each stage forms all sums a+b and differences a−b (a the
// first operand, as in the scalar code) and blends them, so no value is
// negated. Uses the registers A, B, C, D.
#define LOADSIGN12(off, off2, A, B, C, D) \
	VCVTPS2PD  off(SI), A;        \
	VXORPD     off2(BX), A, A;    \
	VMOVDDUP   A, B;              \
	VPERMILPD  $0x0F, A, C;       \
	VADDPD     C, B, D;           \
	VSUBPD     C, B, B;           \
	VBLENDPD   $0x0A, B, D, A;    \
	VPERM2F128 $0x00, A, A, B;    \
	VPERM2F128 $0x11, A, A, C;    \
	VADDPD     C, B, D;           \
	VSUBPD     C, B, B;           \
	VPERM2F128 $0x20, B, D, A;    \
	VMOVUPD    A, off2(DI)

// func loadSign12AVX2(dst *float64, src *float32, mask *uint64, n int)
// dst[i] = float64(src[i]) with the sign bit XORed by mask[i], then the
// butterfly stages of half 1 and 2 within each aligned group of 4.
// n is a positive multiple of 4.
TEXT ·loadSign12AVX2(SB), NOSPLIT, $0-32
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    mask+16(FP), BX
	MOVQ    n+24(FP), CX
	SHRQ    $2, CX
	MOVQ    CX, DX
	SHRQ    $1, DX
	JZ      ls1

ls2:
	LOADSIGN12(0, 0, Y0, Y1, Y2, Y3)
	LOADSIGN12(16, 32, Y4, Y5, Y6, Y7)
	ADDQ $32, SI
	ADDQ $64, BX
	ADDQ $64, DI
	DECQ DX
	JNZ  ls2

ls1:
	ANDQ $1, CX
	JZ   lsdone
	LOADSIGN12(0, 0, Y0, Y1, Y2, Y3)

lsdone:
	VZEROUPPER
	RET

// LOADSIGN12 with the fused norm: the 4 float32 at off(SI) are first
// multiplied by the 4 at off(R8) in float32 (the correctly rounded product,
// which is what float32(float64(w)·float64(g)) is).
#define LOADSCALESIGN12(off, off2, A, B, C, D) \
	VMOVUPS    off(SI), X8;       \
	VMULPS     off(R8), X8, X8;   \
	VCVTPS2PD  X8, A;             \
	VXORPD     off2(BX), A, A;    \
	VMOVDDUP   A, B;              \
	VPERMILPD  $0x0F, A, C;       \
	VADDPD     C, B, D;           \
	VSUBPD     C, B, B;           \
	VBLENDPD   $0x0A, B, D, A;    \
	VPERM2F128 $0x00, A, A, B;    \
	VPERM2F128 $0x11, A, A, C;    \
	VADDPD     C, B, D;           \
	VSUBPD     C, B, B;           \
	VPERM2F128 $0x20, B, D, A;    \
	VMOVUPD    A, off2(DI)

// func loadScaleSign12AVX2(dst *float64, src *float32, scale *float32, mask *uint64, n int)
// loadSign12 of float32(src[i]·scale[i]). n is a positive multiple of 4.
TEXT ·loadScaleSign12AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ scale+16(FP), R8
	MOVQ mask+24(FP), BX
	MOVQ n+32(FP), CX
	SHRQ $2, CX

lss:
	LOADSCALESIGN12(0, 0, Y0, Y1, Y2, Y3)
	ADDQ $16, SI
	ADDQ $16, R8
	ADDQ $32, BX
	ADDQ $32, DI
	DECQ CX
	JNZ  lss
	VZEROUPPER
	RET

// Radix-2/4/8 passes: for every block of R·s doubles (R = 2, 4, 8) and
// every offset o < s (step 4), the R vectors at o + t·s go through the
// butterfly stages of stride s, 2s, … (log2 R stages, in that order), with
// p ← a+b, q ← a−b at each butterfly.

// func radix8AVX2(x *float64, n int, s int)
// n is a positive multiple of 8·s, s a positive multiple of 4.
TEXT ·radix8AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ s+16(FP), DX
	SHLQ $3, DX                 // stride in bytes
	LEAQ (DX)(DX*2), BX         // 3·stride
	LEAQ (SI)(DX*4), R8         // SI + 4·stride
	LEAQ (SI)(CX*8), R11        // end of x
	MOVQ DX, R13
	SHLQ $3, R13
	SUBQ DX, R13                // 7·stride

r8outer:
	LEAQ (SI)(DX*1), R9         // end of this block's offsets

r8inner:
	VMOVUPD (SI), Y0
	VMOVUPD (SI)(DX*1), Y1
	VMOVUPD (SI)(DX*2), Y2
	VMOVUPD (SI)(BX*1), Y3
	VMOVUPD (R8), Y4
	VMOVUPD (R8)(DX*1), Y5
	VMOVUPD (R8)(DX*2), Y6
	VMOVUPD (R8)(BX*1), Y7

	// stage s: pairs (0,1) (2,3) (4,5) (6,7)
	VADDPD Y1, Y0, Y8
	VSUBPD Y1, Y0, Y1
	VADDPD Y3, Y2, Y9
	VSUBPD Y3, Y2, Y3
	VADDPD Y5, Y4, Y10
	VSUBPD Y5, Y4, Y5
	VADDPD Y7, Y6, Y11
	VSUBPD Y7, Y6, Y7

	// p0..p7 = Y8 Y1 Y9 Y3 Y10 Y5 Y11 Y7
	// stage 2s: pairs (0,2) (1,3) (4,6) (5,7)
	VADDPD Y9, Y8, Y0
	VSUBPD Y9, Y8, Y9
	VADDPD Y3, Y1, Y2
	VSUBPD Y3, Y1, Y3
	VADDPD Y11, Y10, Y4
	VSUBPD Y11, Y10, Y11
	VADDPD Y7, Y5, Y6
	VSUBPD Y7, Y5, Y7

	// p0..p7 = Y0 Y2 Y9 Y3 Y4 Y6 Y11 Y7
	// stage 4s: pairs (0,4) (1,5) (2,6) (3,7)
	VADDPD Y4, Y0, Y12
	VSUBPD Y4, Y0, Y4
	VADDPD Y6, Y2, Y13
	VSUBPD Y6, Y2, Y6
	VADDPD Y11, Y9, Y14
	VSUBPD Y11, Y9, Y11
	VADDPD Y7, Y3, Y15
	VSUBPD Y7, Y3, Y7

	// p0..p7 = Y12 Y13 Y14 Y15 Y4 Y6 Y11 Y7
	VMOVUPD Y12, (SI)
	VMOVUPD Y13, (SI)(DX*1)
	VMOVUPD Y14, (SI)(DX*2)
	VMOVUPD Y15, (SI)(BX*1)
	VMOVUPD Y4, (R8)
	VMOVUPD Y6, (R8)(DX*1)
	VMOVUPD Y11, (R8)(DX*2)
	VMOVUPD Y7, (R8)(BX*1)

	ADDQ $32, SI
	ADDQ $32, R8
	CMPQ SI, R9
	JB   r8inner

	ADDQ R13, SI
	ADDQ R13, R8
	CMPQ SI, R11
	JB   r8outer
	VZEROUPPER
	RET

// func radix4AVX2(x *float64, n int, s int)
// n is a positive multiple of 4·s, s a positive multiple of 4.
TEXT ·radix4AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ s+16(FP), DX
	SHLQ $3, DX
	LEAQ (DX)(DX*2), BX         // 3·stride
	LEAQ (SI)(CX*8), R11

r4outer:
	LEAQ (SI)(DX*1), R9

r4inner:
	VMOVUPD (SI), Y0
	VMOVUPD (SI)(DX*1), Y1
	VMOVUPD (SI)(DX*2), Y2
	VMOVUPD (SI)(BX*1), Y3

	// stage s: pairs (0,1) (2,3)
	VADDPD Y1, Y0, Y4
	VSUBPD Y1, Y0, Y1
	VADDPD Y3, Y2, Y5
	VSUBPD Y3, Y2, Y3

	// p0..p3 = Y4 Y1 Y5 Y3; stage 2s: pairs (0,2) (1,3)
	VADDPD Y5, Y4, Y0
	VSUBPD Y5, Y4, Y5
	VADDPD Y3, Y1, Y2
	VSUBPD Y3, Y1, Y3

	// p0..p3 = Y0 Y2 Y5 Y3
	VMOVUPD Y0, (SI)
	VMOVUPD Y2, (SI)(DX*1)
	VMOVUPD Y5, (SI)(DX*2)
	VMOVUPD Y3, (SI)(BX*1)

	ADDQ $32, SI
	CMPQ SI, R9
	JB   r4inner

	ADDQ BX, SI
	CMPQ SI, R11
	JB   r4outer
	VZEROUPPER
	RET

// func radix2AVX2(x *float64, n int, s int)
// n is a positive multiple of 2·s, s a positive multiple of 4.
TEXT ·radix2AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ s+16(FP), DX
	SHLQ $3, DX
	LEAQ (SI)(CX*8), R11

r2outer:
	LEAQ (SI)(DX*1), R9

r2inner:
	VMOVUPD (SI), Y0
	VMOVUPD (SI)(DX*1), Y1
	VADDPD  Y1, Y0, Y2
	VSUBPD  Y1, Y0, Y1
	VMOVUPD Y2, (SI)
	VMOVUPD Y1, (SI)(DX*1)
	ADDQ    $32, SI
	CMPQ    SI, R9
	JB      r2inner

	ADDQ DX, SI
	CMPQ SI, R11
	JB   r2outer
	VZEROUPPER
	RET

// func mulStoreAVX2(dst *float32, src *float64, r float64, n int)
// dst[i] = float32(src[i]·r); n is a positive multiple of 4.
TEXT ·mulStoreAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	VBROADCASTSD r+16(FP), Y15
	MOVQ         n+24(FP), CX
	SHRQ         $2, CX
	MOVQ         CX, DX
	SHRQ         $2, DX
	JZ           ms1

ms4:
	VMOVUPD    (SI), Y0
	VMOVUPD    32(SI), Y1
	VMOVUPD    64(SI), Y2
	VMOVUPD    96(SI), Y3
	VMULPD     Y15, Y0, Y0
	VMULPD     Y15, Y1, Y1
	VMULPD     Y15, Y2, Y2
	VMULPD     Y15, Y3, Y3
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VCVTPD2PSY Y2, X2
	VCVTPD2PSY Y3, X3
	VMOVUPS    X0, (DI)
	VMOVUPS    X1, 16(DI)
	VMOVUPS    X2, 32(DI)
	VMOVUPS    X3, 48(DI)
	ADDQ       $128, SI
	ADDQ       $64, DI
	DECQ       DX
	JNZ        ms4

ms1:
	ANDQ $3, CX
	JZ   msdone

msloop:
	VMOVUPD    (SI), Y0
	VMULPD     Y15, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $32, SI
	ADDQ       $16, DI
	DECQ       CX
	JNZ        msloop

msdone:
	VZEROUPPER
	RET

// func gather16AVX2(dst *float64, src *float32, ld int, mask *uint64, rows int)
// For k < rows and c < 16: dst[k·16+c] = float64(src[k·ld+c]) with the sign
// bit XORed by mask[k]. rows ≥ 1.
TEXT ·gather16AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), DX
	SHLQ $2, DX
	MOVQ mask+24(FP), BX
	MOVQ rows+32(FP), CX

g16:
	VBROADCASTSD (BX), Y15
	VCVTPS2PD    (SI), Y0
	VCVTPS2PD    16(SI), Y1
	VCVTPS2PD    32(SI), Y2
	VCVTPS2PD    48(SI), Y3
	VXORPD       Y15, Y0, Y0
	VXORPD       Y15, Y1, Y1
	VXORPD       Y15, Y2, Y2
	VXORPD       Y15, Y3, Y3
	VMOVUPD      Y0, (DI)
	VMOVUPD      Y1, 32(DI)
	VMOVUPD      Y2, 64(DI)
	VMOVUPD      Y3, 96(DI)
	ADDQ         $8, BX
	ADDQ         DX, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          g16
	VZEROUPPER
	RET

// func scatter16AVX2(dst *float32, ld int, src *float64, r float64, rows int)
// For k < rows and c < 16: dst[k·ld+c] = float32(src[k·16+c]·r). rows ≥ 1.
TEXT ·scatter16AVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         ld+8(FP), DX
	SHLQ         $2, DX
	MOVQ         src+16(FP), SI
	VBROADCASTSD r+24(FP), Y15
	MOVQ         rows+32(FP), CX

s16:
	VMOVUPD    (SI), Y0
	VMOVUPD    32(SI), Y1
	VMOVUPD    64(SI), Y2
	VMOVUPD    96(SI), Y3
	VMULPD     Y15, Y0, Y0
	VMULPD     Y15, Y1, Y1
	VMULPD     Y15, Y2, Y2
	VMULPD     Y15, Y3, Y3
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VCVTPD2PSY Y2, X2
	VCVTPD2PSY Y3, X3
	VMOVUPS    X0, (DI)
	VMOVUPS    X1, 16(DI)
	VMOVUPS    X2, 32(DI)
	VMOVUPS    X3, 48(DI)
	ADDQ       $128, SI
	ADDQ       DX, DI
	DECQ       CX
	JNZ        s16
	VZEROUPPER
	RET

// func addVecAVX2(dst, src *float64, n int)
// dst[i] = dst[i] + src[i]; n is a positive multiple of 4.
TEXT ·addVecAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $2, CX
	MOVQ CX, DX
	SHRQ $2, DX
	JZ   av1

av4:
	VMOVUPD (DI), Y0
	VMOVUPD 32(DI), Y1
	VMOVUPD 64(DI), Y2
	VMOVUPD 96(DI), Y3
	VADDPD  (SI), Y0, Y0
	VADDPD  32(SI), Y1, Y1
	VADDPD  64(SI), Y2, Y2
	VADDPD  96(SI), Y3, Y3
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VMOVUPD Y2, 64(DI)
	VMOVUPD Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	DECQ    DX
	JNZ     av4

av1:
	ANDQ $3, CX
	JZ   avdone

avloop:
	VMOVUPD (DI), Y0
	VADDPD  (SI), Y0, Y0
	VMOVUPD Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     avloop

avdone:
	VZEROUPPER
	RET

// func combineAVX2(out, s *float64, n int, neg bool)
// out[i] = s[i] − 2·out[i] when neg, else 2·out[i] − s[i] (2·x computed as
// x+x, which is the same value); n is a positive multiple of 4.
TEXT ·combineAVX2(SB), NOSPLIT, $0-25
	MOVQ    out+0(FP), DI
	MOVQ    s+8(FP), SI
	MOVQ    n+16(FP), CX
	MOVBQZX neg+24(FP), AX
	SHRQ    $2, CX
	TESTQ   AX, AX
	JZ      cpos

cneg:
	VMOVUPD (DI), Y0
	VADDPD  Y0, Y0, Y0
	VMOVUPD (SI), Y1
	VSUBPD  Y0, Y1, Y1
	VMOVUPD Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     cneg
	VZEROUPPER
	RET

cpos:
	VMOVUPD (DI), Y0
	VADDPD  Y0, Y0, Y0
	VSUBPD  (SI), Y0, Y0
	VMOVUPD Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     cpos
	VZEROUPPER
	RET
