//go:build amd64

#include "textflag.h"

// Q4_K scale search (make_qkx2_quants with nmax 15, rmin −1, rdelta 0.1,
// nstep 20) for the eight 32-value sub-blocks of one super-block at once:
// lane j of every vector is sub-block j, value i of a sub-block is row i of
// the transposed arrays in q4kLanes. Each lane performs exactly the scalar
// float32 operations of makeQKX2Quants in the same order (no FMA; VMINPS,
// VMAXPS and VBLENDVPS reproduce the C comparisons, VDIVPS and VSQRTPS are
// correctly rounded), so the results are bit-identical to the Go code.

// Byte offsets of the q4kLanes fields (checked by TestQ4KLanesLayout).
#define OX 0
#define OW 1024
#define OLA 2048
#define OL 3072
#define OSCALE 4096
#define OTHEMIN 4128
#define ODJ 4160
#define ODM 4192
#define OSUMW 4224
#define OSUMX 4256
#define OMAX 4288
#define OEQ 4320
#define OLMIN 4352
#define OBMAD 4384
#define OBSC 4416
#define OBMIN 4448
#define OBIS 4480
#define ODMASK 4512
#define OCIS 4544
#define OTMIN 4576
#define ONUMS 4608

// 32-bit constants, broadcast from memory (a legacy-SSE move into an XMM
// register after 256-bit instructions costs hundreds of cycles on Zen 3).
DATA q4kConst<>+0(SB)/4, $0x4B400000  // 12582912.0 (nearest_int)
DATA q4kConst<>+4(SB)/4, $0x007FFFFF
DATA q4kConst<>+8(SB)/4, $0x00400000
DATA q4kConst<>+12(SB)/4, $15
DATA q4kConst<>+16(SB)/4, $0x42000000 // 32.0
DATA q4kConst<>+20(SB)/4, $0x7FFFFFFF // |x| mask
DATA q4kConst<>+24(SB)/4, $0x41700000 // 15.0
DATA q4kConst<>+28(SB)/4, $0x3F800000 // 1.0
DATA q4kConst<>+32(SB)/4, $0x80000000 // sign bit
DATA q4kConst<>+36(SB)/4, $0x4A742400 // 4.0e6 < 2^22 − 1
DATA q4kConst<>+40(SB)/4, $0x41780000 // 15.5
DATA q4kConst<>+44(SB)/4, $0xBF000000 // −0.5
GLOBL q4kConst<>(SB), RODATA|NOPTR, $48

// 0x00400000 and 0 as whole vectors, memory operands of the interleaved
// candidate loop (which has no registers left for them).
DATA q4kVec<>+0(SB)/8, $0x0040000000400000
DATA q4kVec<>+8(SB)/8, $0x0040000000400000
DATA q4kVec<>+16(SB)/8, $0x0040000000400000
DATA q4kVec<>+24(SB)/8, $0x0040000000400000
DATA q4kVec<>+32(SB)/8, $0
DATA q4kVec<>+40(SB)/8, $0
DATA q4kVec<>+48(SB)/8, $0
DATA q4kVec<>+56(SB)/8, $0
GLOBL q4kVec<>(SB), RODATA|NOPTR, $64

#define BCAST32(off, Y) VBROADCASTSS q4kConst<>+off(SB), Y

// Y8..Y12 hold the constants of NEARCLAMP: 12582912.0, 0x007FFFFF,
// 0x00400000, 0 and 15.
#define NEARCONSTS \
	BCAST32(0, Y8); \
	BCAST32(4, Y9); \
	BCAST32(8, Y10); \
	VPXOR Y11, Y11, Y11; \
	BCAST32(12, Y12)

// NEARCLAMP turns the float32 lanes of R into clampInt(nearestInt(R), 0, 15).
#define NEARCLAMP(R) \
	VADDPS Y8, R, R; \
	VPAND Y9, R, R; \
	VPSUBD Y10, R, R; \
	VPMAXSD Y11, R, R; \
	VPMINSD Y12, R, R

// The candidate loops, one row of one super-block (row pointer P, min
// MIN, inverse scale IS): Y10 gets x and Y11 the level of t = IS·(x − MIN),
// by rounding to nearest even (CANDT, no clamp) or by the integer path
// (CANDTINT: nearestInt and the clamp to 0..15, with 0x007FFFFF in Y14, 15
// in Y15 and 12582912.0 in Y13); CANDSUMS stores the level in la and adds
// w·l, w·l·l and w·l·x to SL, SL2 and SXL (Y12 is scratch).
#define CANDT(P, MIN, IS) \
	VMOVUPS  OX(P), Y10; \
	VSUBPS   MIN, Y10, Y11; \
	VMULPS   Y11, IS, Y11; \
	VROUNDPS $0, Y11, Y11

#define CANDTINT(P, MIN, IS) \
	VMOVUPS   OX(P), Y10; \
	VSUBPS    MIN, Y10, Y11; \
	VMULPS    Y11, IS, Y11; \
	VADDPS    Y13, Y11, Y11; \
	VPAND     Y14, Y11, Y11; \
	VPSUBD    q4kVec<>+0(SB), Y11, Y11; \
	VPMAXSD   q4kVec<>+32(SB), Y11, Y11; \
	VPMINSD   Y15, Y11, Y11; \
	VCVTDQ2PS Y11, Y11

#define CANDSUMS(P, SL, SL2, SXL) \
	VMOVUPS Y11, OLA(P); \
	VMULPS  OW(P), Y11, Y12; \
	VADDPS  Y12, SL, SL; \
	VMULPS  Y11, Y12, Y11; \
	VADDPS  Y11, SL2, SL2; \
	VMULPS  Y10, Y12, Y10; \
	VADDPS  Y10, SXL, SXL

// func q4kScalesAVX2(xa, xb *float32, sa, sb *q4kLanes)
// Two super-blocks (xa into sa, xb into sb) are searched together: their
// candidate loops are interleaved so that one's dependency chain (each
// candidate needs the previous one's min) overlaps the other's.
TEXT ·q4kScalesAVX2(SB), NOSPLIT, $0-32
	MOVQ xa+0(FP), SI
	MOVQ xb+8(FP), R12
	MOVQ sa+16(FP), DI
	MOVQ sb+24(FP), DX
	MOVQ $2, R11

prep:

	// Transpose: row i = x[i], x[32+i], …, x[224+i], as four 8×8 blocks.
	MOVQ SI, R8
	MOVQ DI, R9
	MOVQ $4, CX

transpose:
	VMOVUPS    0(R8), Y0
	VMOVUPS    128(R8), Y1
	VMOVUPS    256(R8), Y2
	VMOVUPS    384(R8), Y3
	VMOVUPS    512(R8), Y4
	VMOVUPS    640(R8), Y5
	VMOVUPS    768(R8), Y6
	VMOVUPS    896(R8), Y7
	VUNPCKLPS  Y1, Y0, Y8
	VUNPCKHPS  Y1, Y0, Y9
	VUNPCKLPS  Y3, Y2, Y10
	VUNPCKHPS  Y3, Y2, Y11
	VUNPCKLPS  Y5, Y4, Y12
	VUNPCKHPS  Y5, Y4, Y13
	VUNPCKLPS  Y7, Y6, Y14
	VUNPCKHPS  Y7, Y6, Y15
	VSHUFPS    $0x44, Y10, Y8, Y0
	VSHUFPS    $0xEE, Y10, Y8, Y1
	VSHUFPS    $0x44, Y11, Y9, Y2
	VSHUFPS    $0xEE, Y11, Y9, Y3
	VSHUFPS    $0x44, Y14, Y12, Y4
	VSHUFPS    $0xEE, Y14, Y12, Y5
	VSHUFPS    $0x44, Y15, Y13, Y6
	VSHUFPS    $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS    Y8, OX+0(R9)
	VMOVUPS    Y9, OX+32(R9)
	VMOVUPS    Y10, OX+64(R9)
	VMOVUPS    Y11, OX+96(R9)
	VMOVUPS    Y12, OX+128(R9)
	VMOVUPS    Y13, OX+160(R9)
	VMOVUPS    Y14, OX+192(R9)
	VMOVUPS    Y15, OX+224(R9)
	ADDQ       $32, R8
	ADDQ       $256, R9
	DECQ       CX
	JNZ        transpose

	NEARCONSTS

	// sumX2 = Σ x·x in row order.
	VXORPS Y2, Y2, Y2
	MOVQ   DI, R9
	MOVQ   $32, CX

sumsq:
	VMOVUPS OX(R9), Y0
	VMULPS  Y0, Y0, Y1
	VADDPS  Y1, Y2, Y2
	ADDQ    $32, R9
	DECQ    CX
	JNZ     sumsq

	// avX = sqrtf(sumX2/32); weights w = avX + |x|.
	BCAST32(16, Y3)
	VDIVPS  Y3, Y2, Y2
	VSQRTPS Y2, Y13
	BCAST32(20, Y14)

	// Row 0 starts min, max, sumW and sumX.
	VMOVUPS OX(DI), Y0
	VANDPS  Y14, Y0, Y1
	VADDPS  Y1, Y13, Y1
	VMOVUPS Y1, OW(DI)
	VMOVAPS Y0, Y2
	VMOVAPS Y0, Y3
	VMOVAPS Y1, Y4
	VMULPS  Y0, Y1, Y5
	LEAQ    32(DI), R9
	MOVQ    $31, CX

wloop:
	VMOVUPS OX(R9), Y0
	VANDPS  Y14, Y0, Y1
	VADDPS  Y1, Y13, Y1
	VMOVUPS Y1, OW(R9)
	VMINPS  Y2, Y0, Y2 // x < min ? x : min
	VMAXPS  Y3, Y0, Y3 // x > max ? x : max
	VADDPS  Y1, Y4, Y4
	VMULPS  Y0, Y1, Y6
	VADDPS  Y6, Y5, Y5
	ADDQ    $32, R9
	DECQ    CX
	JNZ     wloop

	VMOVUPS Y4, OSUMW(DI)
	VMOVUPS Y5, OSUMX(DI)
	VMOVUPS Y3, OMAX(DI)

	// if min > 0 { min = 0 }; eq = max == min.
	VMOVUPS Y2, OTMIN(DI)
	VCMPPS  $1, Y2, Y11, Y6
	VANDNPS Y2, Y6, Y2
	VMOVUPS Y2, OBMIN(DI)
	VMOVUPS Y2, OLMIN(DI)
	VCMPPS  $0, Y2, Y3, Y6
	VMOVUPS Y6, OEQ(DI)

	// iscale = 15/(max − min), scale = 1/iscale.
	VSUBPS  Y2, Y3, Y7
	BCAST32(24, Y0)
	VDIVPS  Y7, Y0, Y0
	BCAST32(28, Y1)
	VDIVPS  Y0, Y1, Y1
	VMOVUPS Y0, OBIS(DI)
	VMOVUPS Y1, OBSC(DI)

	// First quantization: bestMad = Σ w·(scale·l + min − x)².
	VXORPS Y15, Y15, Y15
	MOVQ   DI, R9
	MOVQ   $32, CX

first:
	VMOVUPS   OX(R9), Y3
	VSUBPS    Y2, Y3, Y4
	VMULPS    Y4, Y0, Y4
	NEARCLAMP(Y4)
	VCVTDQ2PS Y4, Y4
	VMULPS    Y4, Y1, Y4
	VADDPS    Y2, Y4, Y4
	VSUBPS    Y3, Y4, Y4
	VMULPS    Y4, Y4, Y4
	VMULPS    OW(R9), Y4, Y4
	VADDPS    Y4, Y15, Y15
	ADDQ      $32, R9
	DECQ      CX
	JNZ       first
	VMOVUPS   Y15, OBMAD(DI)

	XCHGQ SI, R12
	XCHGQ DI, DX
	DECQ  R11
	JNZ   prep

	// The 21 candidate inverse scales, both blocks at once (DI = a, DX =
	// b). As in ggml, min is the running best min: a kept candidate changes
	// the next ones' iscale and x − min.
	BCAST32(0, Y13)
	XORQ BX, BX

cand:
	VMOVUPS      OBMIN(DI), Y2 // min a
	VMOVUPS      OBMIN(DX), Y3 // min b
	VMOVUPS      OMAX(DI), Y10
	VMOVUPS      OMAX(DX), Y11
	VSUBPS       Y2, Y10, Y10
	VSUBPS       Y3, Y11, Y11
	VBROADCASTSS ONUMS(DI)(BX*4), Y12
	VDIVPS       Y10, Y12, Y0 // iscale a
	VDIVPS       Y11, Y12, Y1 // iscale b
	VMOVUPS      Y0, OCIS(DI)
	VMOVUPS      Y1, OCIS(DX)

	// Fast path check. t = iscale·(x − min) is monotonic in x, so every t
	// of a lane lies between its values at x = max and x = the true min.
	// When all of them are below 4e6 in magnitude (so finite), rounding to
	// nearest even (VROUNDPS: nearestInt's (t + 1.5·2^23) − 1.5·2^23 is
	// that for |t| < 2^22, but for the sign of a zero, which the clamp at
	// 0 drops) and clamping in float32 equals clampInt(nearestInt(t), 0,
	// 15) exactly; lanes with max == min (whose results are discarded) do
	// not count. Otherwise the integer path runs.
	//
	// When moreover every t lies in (−0.5, 15.5), the clamps change
	// nothing (a t in (−0.5, 0) rounds to −0 instead of 0, which leaves
	// every sum and error the same: they start at +0, and ±0 added to a
	// sum or multiplied into a square changes no bit), so the loop without
	// them runs (mask in R8).
	BCAST32(40, Y14)
	BCAST32(44, Y15)
	VMULPS    Y10, Y0, Y10
	VMOVUPS   OTMIN(DI), Y12
	VSUBPS    Y2, Y12, Y12
	VMULPS    Y12, Y0, Y12
	VCMPPS    $1, Y14, Y10, Y4 // t(max) < 15.5
	VCMPPS    $1, Y12, Y15, Y5 // −0.5 < t(min)
	VANDPS    Y5, Y4, Y4
	VORPS     OEQ(DI), Y4, Y4
	VMULPS    Y11, Y1, Y11
	VMOVUPS   OTMIN(DX), Y6
	VSUBPS    Y3, Y6, Y6
	VMULPS    Y6, Y1, Y6
	VCMPPS    $1, Y14, Y11, Y7
	VCMPPS    $1, Y6, Y15, Y5
	VANDPS    Y5, Y7, Y7
	VORPS     OEQ(DX), Y7, Y7
	VANDPS    Y7, Y4, Y4
	VMOVMSKPS Y4, R8
	BCAST32(20, Y14)
	BCAST32(36, Y15)
	VANDPS    Y14, Y10, Y10
	VANDPS    Y14, Y12, Y12
	VCMPPS    $1, Y15, Y10, Y10
	VCMPPS    $1, Y15, Y12, Y12
	VANDPS    Y12, Y10, Y10
	VORPS     OEQ(DI), Y10, Y10
	VANDPS    Y14, Y11, Y11
	VANDPS    Y14, Y6, Y12
	VCMPPS    $1, Y15, Y11, Y11
	VCMPPS    $1, Y15, Y12, Y12
	VANDPS    Y12, Y11, Y11
	VORPS     OEQ(DX), Y11, Y11
	VANDPS    Y11, Y10, Y10
	VMOVMSKPS Y10, AX

	VXORPS Y4, Y4, Y4 // sumL a
	VXORPS Y5, Y5, Y5 // sumL2 a
	VXORPS Y6, Y6, Y6 // sumXL a
	VXORPS Y7, Y7, Y7 // sumL b
	VXORPS Y8, Y8, Y8 // sumL2 b
	VXORPS Y9, Y9, Y9 // sumXL b
	MOVQ   DI, R9
	MOVQ   DX, R10
	MOVQ   $32, CX
	CMPQ   AX, $0xFF
	JNE    exact
	CMPQ   R8, $0xFF
	JEQ    noclamp

	VXORPS Y14, Y14, Y14 // 0.0
	BCAST32(24, Y15)     // 15.0

fast:
	CANDT(R9, Y2, Y0)
	VMAXPS Y14, Y11, Y11 // t > 0 ? t : 0 (−0 becomes 0)
	VMINPS Y15, Y11, Y11 // t < 15 ? t : 15
	CANDSUMS(R9, Y4, Y5, Y6)
	CANDT(R10, Y3, Y1)
	VMAXPS Y14, Y11, Y11
	VMINPS Y15, Y11, Y11
	CANDSUMS(R10, Y7, Y8, Y9)
	ADDQ   $32, R9
	ADDQ   $32, R10
	DECQ   CX
	JNZ    fast
	JMP    post

noclamp:
	CANDT(R9, Y2, Y0)
	CANDSUMS(R9, Y4, Y5, Y6)
	CANDT(R10, Y3, Y1)
	CANDSUMS(R10, Y7, Y8, Y9)
	ADDQ $32, R9
	ADDQ $32, R10
	DECQ CX
	JNZ  noclamp
	JMP  post

exact:
	BCAST32(4, Y14)
	BCAST32(12, Y15)

inner:
	CANDTINT(R9, Y2, Y0)
	CANDSUMS(R9, Y4, Y5, Y6)
	CANDTINT(R10, Y3, Y1)
	CANDSUMS(R10, Y7, Y8, Y9)
	ADDQ $32, R9
	ADDQ $32, R10
	DECQ CX
	JNZ  inner

post:
	// D = sumW·sumL2 − sumL²; thisScale, thisMin as in the C code.
	// Block a: sums Y4..Y6 → thisScale Y0, thisMin Y1.
	VMOVUPS   OSUMW(DI), Y10
	VMULPS    Y5, Y10, Y2
	VMULPS    Y4, Y4, Y3
	VSUBPS    Y3, Y2, Y2 // D
	VMULPS    Y6, Y10, Y0
	VMOVUPS   OSUMX(DI), Y11
	VMULPS    Y4, Y11, Y3
	VSUBPS    Y3, Y0, Y0
	VDIVPS    Y2, Y0, Y0
	VMULPS    Y11, Y5, Y1
	VMULPS    Y6, Y4, Y3
	VSUBPS    Y3, Y1, Y1
	VDIVPS    Y2, Y1, Y1
	VXORPS    Y12, Y12, Y12
	VCMPPS    $1, Y2, Y12, Y2 // D > 0
	VMOVUPS   Y2, ODMASK(DI)
	VCMPPS    $1, Y1, Y12, Y3 // thisMin > 0
	VANDNPS   Y1, Y3, Y1
	VDIVPS    Y5, Y6, Y10
	VBLENDVPS Y3, Y10, Y0, Y0

	// Block b: sums Y7..Y9 → thisScale Y2, thisMin Y3.
	VMOVUPS   OSUMW(DX), Y10
	VMULPS    Y8, Y10, Y4
	VMULPS    Y7, Y7, Y5
	VSUBPS    Y5, Y4, Y4 // D
	VMULPS    Y9, Y10, Y2
	VMOVUPS   OSUMX(DX), Y11
	VMULPS    Y7, Y11, Y5
	VSUBPS    Y5, Y2, Y2
	VDIVPS    Y4, Y2, Y2
	VMULPS    Y11, Y8, Y3
	VMULPS    Y9, Y7, Y5
	VSUBPS    Y5, Y3, Y3
	VDIVPS    Y4, Y3, Y3
	VCMPPS    $1, Y4, Y12, Y4
	VMOVUPS   Y4, ODMASK(DX)
	VCMPPS    $1, Y3, Y12, Y5
	VANDNPS   Y3, Y5, Y3
	VDIVPS    Y8, Y9, Y10
	VBLENDVPS Y5, Y10, Y2, Y2

	// mad = Σ w·(thisScale·l + thisMin − x)² (a in Y4, b in Y5).
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	MOVQ   DI, R9
	MOVQ   DX, R10
	MOVQ   $32, CX

madloop:
	VMULPS OLA(R9), Y0, Y6
	VADDPS Y1, Y6, Y6
	VSUBPS OX(R9), Y6, Y6
	VMULPS Y6, Y6, Y6
	VMULPS OW(R9), Y6, Y6
	VADDPS Y6, Y4, Y4
	VMULPS OLA(R10), Y2, Y7
	VADDPS Y3, Y7, Y7
	VSUBPS OX(R10), Y7, Y7
	VMULPS Y7, Y7, Y7
	VMULPS OW(R10), Y7, Y7
	VADDPS Y7, Y5, Y5
	ADDQ   $32, R9
	ADDQ   $32, R10
	DECQ   CX
	JNZ    madloop

	// Keep the candidate where D > 0 && mad < bestMad, with the min and
	// inverse scale its levels came from.
	VMOVUPS   OBMAD(DI), Y6
	VCMPPS    $1, Y6, Y4, Y7
	VANDPS    ODMASK(DI), Y7, Y7
	VBLENDVPS Y7, Y4, Y6, Y6
	VMOVUPS   Y6, OBMAD(DI)
	VMOVUPS   OBSC(DI), Y6
	VBLENDVPS Y7, Y0, Y6, Y6
	VMOVUPS   Y6, OBSC(DI)
	VMOVUPS   OBMIN(DI), Y6
	VMOVUPS   OLMIN(DI), Y8
	VBLENDVPS Y7, Y6, Y8, Y8
	VMOVUPS   Y8, OLMIN(DI)
	VBLENDVPS Y7, Y1, Y6, Y6
	VMOVUPS   Y6, OBMIN(DI)
	VMOVUPS   OBIS(DI), Y6
	VBLENDVPS Y7, OCIS(DI), Y6, Y6
	VMOVUPS   Y6, OBIS(DI)

	VMOVUPS   OBMAD(DX), Y6
	VCMPPS    $1, Y6, Y5, Y7
	VANDPS    ODMASK(DX), Y7, Y7
	VBLENDVPS Y7, Y5, Y6, Y6
	VMOVUPS   Y6, OBMAD(DX)
	VMOVUPS   OBSC(DX), Y6
	VBLENDVPS Y7, Y2, Y6, Y6
	VMOVUPS   Y6, OBSC(DX)
	VMOVUPS   OBMIN(DX), Y6
	VMOVUPS   OLMIN(DX), Y8
	VBLENDVPS Y7, Y6, Y8, Y8
	VMOVUPS   Y8, OLMIN(DX)
	VBLENDVPS Y7, Y3, Y6, Y6
	VMOVUPS   Y6, OBMIN(DX)
	VMOVUPS   OBIS(DX), Y6
	VBLENDVPS Y7, OCIS(DX), Y6, Y6
	VMOVUPS   Y6, OBIS(DX)

	INCQ BX
	CMPQ BX, $21
	JLT  cand

	NEARCONSTS
	MOVQ $2, R11

results:
	// Results; lanes with max == min get scale 0, the_min −min, L 0 (their
	// D is never positive, so min is still the initial one).
	VMOVUPS OEQ(DI), Y5
	VMOVUPS OBSC(DI), Y1
	VANDNPS Y1, Y5, Y1
	VMOVUPS Y1, OSCALE(DI)
	VMOVUPS OBMIN(DI), Y1
	BCAST32(32, Y3)
	VXORPS  Y3, Y1, Y1
	VMOVUPS Y1, OTHEMIN(DI)

	// L of the kept candidate, recomputed from its iscale and min.
	VMOVUPS OBIS(DI), Y0
	VMOVUPS OLMIN(DI), Y2
	MOVQ    DI, R9
	MOVQ    $32, CX

lloop:
	VMOVUPS OX(R9), Y4
	VSUBPS  Y2, Y4, Y4
	VMULPS  Y4, Y0, Y4
	NEARCLAMP(Y4)
	VPANDN  Y4, Y5, Y4
	VMOVDQU Y4, OL(R9)
	ADDQ    $32, R9
	DECQ    CX
	JNZ     lloop

	XCHGQ DI, DX
	DECQ  R11
	JNZ   results

	VZEROUPPER
	RET

// func q4kRequantAVX2(s *q4kLanes)
// L = clampInt(nearestInt((x + dm)/dj), 0, 15) in every lane whose dj != 0.
TEXT ·q4kRequantAVX2(SB), NOSPLIT, $0-8
	MOVQ s+0(FP), DI
	NEARCONSTS
	VMOVUPS ODJ(DI), Y0
	VMOVUPS ODM(DI), Y1
	VCMPPS  $0, Y11, Y0, Y2 // dj == 0: keep L
	MOVQ    DI, R9
	MOVQ    $32, CX

requant:
	VMOVUPS   OX(R9), Y3
	VADDPS    Y1, Y3, Y3
	VDIVPS    Y0, Y3, Y3
	NEARCLAMP(Y3)
	VMOVDQU   OL(R9), Y4
	VBLENDVPS Y2, Y4, Y3, Y3
	VMOVDQU   Y3, OL(R9)
	ADDQ      $32, R9
	DECQ      CX
	JNZ       requant

	VZEROUPPER
	RET

// Lane order of VPACKUSDW then VPACKUSWB on four vectors of eight dwords
// (dword groups v0 0–3, v1 0–3, v2 0–3, v3 0–3, v0 4–7, …) back to v0, v1,
// v2, v3.
DATA q4kPackPerm<>+0(SB)/4, $0
DATA q4kPackPerm<>+4(SB)/4, $4
DATA q4kPackPerm<>+8(SB)/4, $1
DATA q4kPackPerm<>+12(SB)/4, $5
DATA q4kPackPerm<>+16(SB)/4, $2
DATA q4kPackPerm<>+20(SB)/4, $6
DATA q4kPackPerm<>+24(SB)/4, $3
DATA q4kPackPerm<>+28(SB)/4, $7
GLOBL q4kPackPerm<>(SB), RODATA|NOPTR, $32

// REQUANT8(off, Y) sets Y to clampInt(nearestInt((x + dm)/dj), 0, 15) for
// the eight values at SI+off, with dj in Y0 and dm in Y1.
#define REQUANT8(off, Y) \
	VMOVUPS off(SI), Y; \
	VADDPS  Y1, Y, Y; \
	VDIVPS  Y0, Y, Y; \
	NEARCLAMP(Y)

// func q4kRequantPackAVX2(x *float32, s *q4kLanes, q *byte)
// For the 256 values at x (sub-block j is x[32j:32j+32]) and every s.dj
// non-zero: levels clampInt(nearestInt((x + s.dm[j])/s.dj[j]), 0, 15),
// packed as Q4_K stores them: q[32k+l] = L[2k][l] | L[2k+1][l]<<4.
TEXT ·q4kRequantPackAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ s+8(FP), DI
	MOVQ q+16(FP), R8
	NEARCONSTS
	VMOVDQU q4kPackPerm<>(SB), Y15
	MOVQ    $4, CX

pair:
	// Sub-block 2k: low nibbles in Y2..Y5.
	VBROADCASTSS ODJ(DI), Y0
	VBROADCASTSS ODM(DI), Y1
	REQUANT8(0, Y2)
	REQUANT8(32, Y3)
	REQUANT8(64, Y4)
	REQUANT8(96, Y5)

	// Sub-block 2k+1: high nibbles, or-ed in.
	VBROADCASTSS ODJ+4(DI), Y0
	VBROADCASTSS ODM+4(DI), Y1
	REQUANT8(128, Y6)
	VPSLLD       $4, Y6, Y6
	VPOR         Y6, Y2, Y2
	REQUANT8(160, Y6)
	VPSLLD       $4, Y6, Y6
	VPOR         Y6, Y3, Y3
	REQUANT8(192, Y6)
	VPSLLD       $4, Y6, Y6
	VPOR         Y6, Y4, Y4
	REQUANT8(224, Y6)
	VPSLLD       $4, Y6, Y6
	VPOR         Y6, Y5, Y5

	// 32 dwords (each < 256) to 32 bytes in order.
	VPACKUSDW Y3, Y2, Y2
	VPACKUSDW Y5, Y4, Y4
	VPACKUSWB Y4, Y2, Y2
	VPERMD    Y2, Y15, Y2
	VMOVDQU   Y2, (R8)

	ADDQ $256, SI
	ADDQ $8, DI
	ADDQ $32, R8
	DECQ CX
	JNZ  pair

	VZEROUPPER
	RET
