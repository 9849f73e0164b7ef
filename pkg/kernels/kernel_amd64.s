// AVX2 + FMA kernels. Selected at run time only when the CPU (and OS) support
// AVX2 and FMA; see select_amd64.go.

#include "textflag.h"

// One k step of the 6×16 micro-kernel: two 8-wide loads of the packed W
// panel, six broadcasts of x, twelve FMAs into Y4..Y15.
#define KSTEP(boff, aoff) \
	VMOVUPS      boff(DI), Y0;            \
	VMOVUPS      boff+32(DI), Y1;         \
	VBROADCASTSS aoff(SI), Y2;            \
	VFMADD231PS  Y0, Y2, Y4;              \
	VFMADD231PS  Y1, Y2, Y5;              \
	VBROADCASTSS aoff(SI)(DX*1), Y3;      \
	VFMADD231PS  Y0, Y3, Y6;              \
	VFMADD231PS  Y1, Y3, Y7;              \
	VBROADCASTSS aoff(SI)(DX*2), Y2;      \
	VFMADD231PS  Y0, Y2, Y8;              \
	VFMADD231PS  Y1, Y2, Y9;              \
	VBROADCASTSS aoff(R8), Y3;            \
	VFMADD231PS  Y0, Y3, Y10;             \
	VFMADD231PS  Y1, Y3, Y11;             \
	VBROADCASTSS aoff(R8)(DX*1), Y2;      \
	VFMADD231PS  Y0, Y2, Y12;             \
	VFMADD231PS  Y1, Y2, Y13;             \
	VBROADCASTSS aoff(R8)(DX*2), Y3;      \
	VFMADD231PS  Y0, Y3, Y14;             \
	VFMADD231PS  Y1, Y3, Y15

// func kernel6x16AVX2(kc int, a *float32, lda int, b *float32, c *float32, ldc int)
// c[i*ldc+j] += Σ_{p<kc} a[i*lda+p]·b[p*16+j] for i<6, j<16; kc ≥ 1.
TEXT ·kernel6x16AVX2(SB), NOSPLIT, $0-48
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), DX
	SHLQ $2, DX
	MOVQ b+24(FP), DI
	MOVQ c+32(FP), R9
	MOVQ ldc+40(FP), R10
	SHLQ $2, R10
	LEAQ (SI)(DX*2), R8
	ADDQ DX, R8                 // R8 = row 3 of a

	// Prefetch the C tile (6 rows × 64 bytes, possibly straddling two lines)
	// so that the final read-modify-write does not wait on L2/L3.
	MOVQ       R9, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)
	ADDQ       R10, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)
	ADDQ       R10, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)
	ADDQ       R10, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)
	ADDQ       R10, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)
	ADDQ       R10, R11
	PREFETCHT0 (R11)
	PREFETCHT0 60(R11)

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	MOVQ CX, BX
	SHRQ $2, BX
	JZ   tail

loop4:
	KSTEP(0, 0)
	KSTEP(64, 4)
	KSTEP(128, 8)
	KSTEP(192, 12)
	ADDQ $256, DI
	ADDQ $16, SI
	ADDQ $16, R8
	DECQ BX
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   store

loop1:
	KSTEP(0, 0)
	ADDQ $64, DI
	ADDQ $4, SI
	ADDQ $4, R8
	DECQ CX
	JNZ  loop1

store:
	VADDPS  (R9), Y4, Y4
	VADDPS  32(R9), Y5, Y5
	VMOVUPS Y4, (R9)
	VMOVUPS Y5, 32(R9)
	ADDQ    R10, R9
	VADDPS  (R9), Y6, Y6
	VADDPS  32(R9), Y7, Y7
	VMOVUPS Y6, (R9)
	VMOVUPS Y7, 32(R9)
	ADDQ    R10, R9
	VADDPS  (R9), Y8, Y8
	VADDPS  32(R9), Y9, Y9
	VMOVUPS Y8, (R9)
	VMOVUPS Y9, 32(R9)
	ADDQ    R10, R9
	VADDPS  (R9), Y10, Y10
	VADDPS  32(R9), Y11, Y11
	VMOVUPS Y10, (R9)
	VMOVUPS Y11, 32(R9)
	ADDQ    R10, R9
	VADDPS  (R9), Y12, Y12
	VADDPS  32(R9), Y13, Y13
	VMOVUPS Y12, (R9)
	VMOVUPS Y13, 32(R9)
	ADDQ    R10, R9
	VADDPS  (R9), Y14, Y14
	VADDPS  32(R9), Y15, Y15
	VMOVUPS Y14, (R9)
	VMOVUPS Y15, 32(R9)
	VZEROUPPER
	RET

// HSUM reduces the 8 lanes of Y register r into the low lane of X register r,
// using X0 as scratch.
#define HSUM(yr, xr) \
	VEXTRACTF128 $1, yr, X0; \
	VADDPS       X0, xr, xr; \
	VHADDPS      xr, xr, xr; \
	VHADDPS      xr, xr, xr

// func dot4AVX2(x *float32, w *float32, k int, ldw int, out *float32)
// out[r] = Σ_{i<k} x[i]·w[r*ldw+i] for r < 4.
TEXT ·dot4AVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ k+16(FP), CX
	MOVQ ldw+24(FP), DX
	SHLQ $2, DX
	MOVQ out+32(FP), R9
	LEAQ (DI)(DX*2), R8         // R8 = row 2

	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	MOVQ CX, BX
	SHRQ $4, BX
	JZ   d4tail8

d4loop16:
	VMOVUPS     (SI), Y0
	VMOVUPS     32(SI), Y1
	VFMADD231PS (DI), Y0, Y8
	VFMADD231PS 32(DI), Y1, Y12
	VFMADD231PS (DI)(DX*1), Y0, Y9
	VFMADD231PS 32(DI)(DX*1), Y1, Y13
	VFMADD231PS (R8), Y0, Y10
	VFMADD231PS 32(R8), Y1, Y14
	VFMADD231PS (R8)(DX*1), Y0, Y11
	VFMADD231PS 32(R8)(DX*1), Y1, Y15
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $64, R8
	DECQ        BX
	JNZ         d4loop16

d4tail8:
	VADDPS Y12, Y8, Y8
	VADDPS Y13, Y9, Y9
	VADDPS Y14, Y10, Y10
	VADDPS Y15, Y11, Y11
	TESTQ  $8, CX
	JZ     d4reduce
	VMOVUPS     (SI), Y0
	VFMADD231PS (DI), Y0, Y8
	VFMADD231PS (DI)(DX*1), Y0, Y9
	VFMADD231PS (R8), Y0, Y10
	VFMADD231PS (R8)(DX*1), Y0, Y11
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        $32, R8

d4reduce:
	HSUM(Y8, X8)
	HSUM(Y9, X9)
	HSUM(Y10, X10)
	HSUM(Y11, X11)
	ANDQ $7, CX
	JZ   d4store

d4loop1:
	VMOVSS      (SI), X0
	VFMADD231SS (DI), X0, X8
	VFMADD231SS (DI)(DX*1), X0, X9
	VFMADD231SS (R8), X0, X10
	VFMADD231SS (R8)(DX*1), X0, X11
	ADDQ        $4, SI
	ADDQ        $4, DI
	ADDQ        $4, R8
	DECQ        CX
	JNZ         d4loop1

d4store:
	VMOVSS X8, (R9)
	VMOVSS X9, 4(R9)
	VMOVSS X10, 8(R9)
	VMOVSS X11, 12(R9)
	VZEROUPPER
	RET

// func dotAVX2(a *float32, b *float32, n int) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	MOVQ CX, BX
	SHRQ $5, BX
	JZ   dtail8

dloop32:
	VMOVUPS     (SI), Y0
	VMOVUPS     32(SI), Y1
	VMOVUPS     64(SI), Y2
	VMOVUPS     96(SI), Y3
	VFMADD231PS (DI), Y0, Y8
	VFMADD231PS 32(DI), Y1, Y9
	VFMADD231PS 64(DI), Y2, Y10
	VFMADD231PS 96(DI), Y3, Y11
	ADDQ        $128, SI
	ADDQ        $128, DI
	DECQ        BX
	JNZ         dloop32

dtail8:
	VADDPS Y9, Y8, Y8
	VADDPS Y11, Y10, Y10
	VADDPS Y10, Y8, Y8
	MOVQ   CX, BX
	ANDQ   $31, BX
	SHRQ   $3, BX
	JZ     dreduce

dloop8:
	VMOVUPS     (SI), Y0
	VFMADD231PS (DI), Y0, Y8
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        BX
	JNZ         dloop8

dreduce:
	HSUM(Y8, X8)
	ANDQ $7, CX
	JZ   dstore

dloop1:
	VMOVSS      (SI), X0
	VFMADD231SS (DI), X0, X8
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JNZ         dloop1

dstore:
	VMOVSS X8, ret+24(FP)
	VZEROUPPER
	RET

// func axpyAVX2(alpha float32, x *float32, y *float32, n int)
// y[i] += alpha·x[i] for i < n.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Y15
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX
	MOVQ         CX, BX
	SHRQ         $5, BX
	JZ           atail8

aloop32:
	VMOVUPS     (DI), Y0
	VMOVUPS     32(DI), Y1
	VMOVUPS     64(DI), Y2
	VMOVUPS     96(DI), Y3
	VFMADD231PS (SI), Y15, Y0
	VFMADD231PS 32(SI), Y15, Y1
	VFMADD231PS 64(SI), Y15, Y2
	VFMADD231PS 96(SI), Y15, Y3
	VMOVUPS     Y0, (DI)
	VMOVUPS     Y1, 32(DI)
	VMOVUPS     Y2, 64(DI)
	VMOVUPS     Y3, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	DECQ        BX
	JNZ         aloop32

atail8:
	MOVQ CX, BX
	ANDQ $31, BX
	SHRQ $3, BX
	JZ   atail1

aloop8:
	VMOVUPS     (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	DECQ        BX
	JNZ         aloop8

atail1:
	ANDQ $7, CX
	JZ   adone

aloop1:
	VMOVSS      (DI), X0
	VFMADD231SS (SI), X15, X0
	VMOVSS      X0, (DI)
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JNZ         aloop1

adone:
	VZEROUPPER
	RET

// func transpose8x8AVX2(src *float32, lds int, dst *float32, blocks int)
// For b < blocks, i < 8, r < 8: dst[(b*8+i)*16 + r] = src[r*lds + b*8 + i].
// Packs 8 rows of W into half of a 16-wide panel (see packBAVX2).
TEXT ·transpose8x8AVX2(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ lds+8(FP), DX
	SHLQ $2, DX
	MOVQ dst+16(FP), DI
	MOVQ blocks+24(FP), CX
	LEAQ (SI)(DX*2), R8
	ADDQ DX, R8                 // row 3
	LEAQ (R8)(DX*2), R9
	ADDQ DX, R9                 // row 6
	TESTQ CX, CX
	JZ   tdone

tloop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(DX*1), Y1
	VMOVUPS (SI)(DX*2), Y2
	VMOVUPS (R8), Y3
	VMOVUPS (R8)(DX*1), Y4
	VMOVUPS (R8)(DX*2), Y5
	VMOVUPS (R9), Y6
	VMOVUPS (R9)(DX*1), Y7

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 64(DI)
	VMOVUPS Y10, 128(DI)
	VMOVUPS Y11, 192(DI)
	VMOVUPS Y12, 256(DI)
	VMOVUPS Y13, 320(DI)
	VMOVUPS Y14, 384(DI)
	VMOVUPS Y15, 448(DI)

	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $512, DI
	DECQ CX
	JNZ  tloop

tdone:
	VZEROUPPER
	RET

// Scalar tail step for one row of x (in X0) against the 4 rows of w.
#define T3X4ROW(x, a0, a1, a2, a3) \
	VMOVSS      x, X0;                 \
	VFMADD231SS (DI), X0, a0;          \
	VFMADD231SS (DI)(DX*1), X0, a1;    \
	VFMADD231SS (R8), X0, a2;          \
	VFMADD231SS (R8)(DX*1), X0, a3

// func dot3x4AVX2(x0, x1, x2 *float32, w *float32, ldw int, k int, out *float32)
// out[i*4+j] = Σ_{p<k} xi[p]·w[j*ldw+p] for i < 3, j < 4.
TEXT ·dot3x4AVX2(SB), NOSPLIT, $0-56
	MOVQ x0+0(FP), SI
	MOVQ x1+8(FP), R11
	MOVQ x2+16(FP), R12
	MOVQ w+24(FP), DI
	MOVQ ldw+32(FP), DX
	SHLQ $2, DX
	MOVQ k+40(FP), CX
	MOVQ out+48(FP), R9
	LEAQ (DI)(DX*2), R8         // row 2 of w

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	MOVQ CX, BX
	SHRQ $3, BX
	JZ   t34reduce

t34loop8:
	VMOVUPS     (SI), Y0
	VMOVUPS     (R11), Y1
	VMOVUPS     (R12), Y2
	VMOVUPS     (DI), Y3
	VFMADD231PS Y3, Y0, Y4
	VFMADD231PS Y3, Y1, Y8
	VFMADD231PS Y3, Y2, Y12
	VMOVUPS     (DI)(DX*1), Y3
	VFMADD231PS Y3, Y0, Y5
	VFMADD231PS Y3, Y1, Y9
	VFMADD231PS Y3, Y2, Y13
	VMOVUPS     (R8), Y3
	VFMADD231PS Y3, Y0, Y6
	VFMADD231PS Y3, Y1, Y10
	VFMADD231PS Y3, Y2, Y14
	VMOVUPS     (R8)(DX*1), Y3
	VFMADD231PS Y3, Y0, Y7
	VFMADD231PS Y3, Y1, Y11
	VFMADD231PS Y3, Y2, Y15
	ADDQ        $32, SI
	ADDQ        $32, R11
	ADDQ        $32, R12
	ADDQ        $32, DI
	ADDQ        $32, R8
	DECQ        BX
	JNZ         t34loop8

t34reduce:
	HSUM(Y4, X4)
	HSUM(Y5, X5)
	HSUM(Y6, X6)
	HSUM(Y7, X7)
	HSUM(Y8, X8)
	HSUM(Y9, X9)
	HSUM(Y10, X10)
	HSUM(Y11, X11)
	HSUM(Y12, X12)
	HSUM(Y13, X13)
	HSUM(Y14, X14)
	HSUM(Y15, X15)
	ANDQ $7, CX
	JZ   t34store

t34loop1:
	T3X4ROW((SI), X4, X5, X6, X7)
	T3X4ROW((R11), X8, X9, X10, X11)
	T3X4ROW((R12), X12, X13, X14, X15)
	ADDQ $4, SI
	ADDQ $4, R11
	ADDQ $4, R12
	ADDQ $4, DI
	ADDQ $4, R8
	DECQ CX
	JNZ  t34loop1

t34store:
	VMOVSS X4, (R9)
	VMOVSS X5, 4(R9)
	VMOVSS X6, 8(R9)
	VMOVSS X7, 12(R9)
	VMOVSS X8, 16(R9)
	VMOVSS X9, 20(R9)
	VMOVSS X10, 24(R9)
	VMOVSS X11, 28(R9)
	VMOVSS X12, 32(R9)
	VMOVSS X13, 36(R9)
	VMOVSS X14, 40(R9)
	VMOVSS X15, 44(R9)
	VZEROUPPER
	RET

// One k step of the 6×8 two-accumulator kernel: one 8-wide load of the
// packed W panel (row stride 64 bytes), six broadcasts of x, six FMAs into
// the accumulator set a0..a5.
#define PSTEP(boff, aoff, a0, a1, a2, a3, a4, a5) \
	VMOVUPS      boff(DI), Y0;            \
	VBROADCASTSS aoff(SI), Y1;            \
	VFMADD231PS  Y0, Y1, a0;              \
	VBROADCASTSS aoff(SI)(DX*1), Y2;      \
	VFMADD231PS  Y0, Y2, a1;              \
	VBROADCASTSS aoff(SI)(DX*2), Y3;      \
	VFMADD231PS  Y0, Y3, a2;              \
	VBROADCASTSS aoff(R8), Y1;            \
	VFMADD231PS  Y0, Y1, a3;              \
	VBROADCASTSS aoff(R8)(DX*1), Y2;      \
	VFMADD231PS  Y0, Y2, a4;              \
	VBROADCASTSS aoff(R8)(DX*2), Y3;      \
	VFMADD231PS  Y0, Y3, a5

// func kernel6x8PairAVX2(kc, kp int, a *float32, lda int, b *float32, c *float32, ldc int)
// Like kernel6x16AVX2 for 8 columns (b has a row stride of 16 floats), but
// summing in two accumulators as OpenBLAS's edge tiles do: for k < kp even
// k go to the first and odd k to the second, k ≥ kp to the first; then
// c[i*ldc+j] += second + first. kc ≥ 1, 0 ≤ kp ≤ kc.
TEXT ·kernel6x8PairAVX2(SB), NOSPLIT, $0-56
	MOVQ kc+0(FP), CX
	MOVQ kp+8(FP), BX
	MOVQ a+16(FP), SI
	MOVQ lda+24(FP), DX
	SHLQ $2, DX
	MOVQ b+32(FP), DI
	MOVQ c+40(FP), R9
	MOVQ ldc+48(FP), R10
	SHLQ $2, R10
	LEAQ (SI)(DX*2), R8
	ADDQ DX, R8                 // R8 = row 3 of a

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	SHRQ $1, BX                 // pairs of k
	MOVQ BX, R11
	SHLQ $1, R11
	SUBQ R11, CX                // k left for the first set after the pairs
	TESTQ BX, BX
	JZ   ptail

	PCALIGN $64
ploop:
	PSTEP(0, 0, Y4, Y5, Y6, Y7, Y8, Y9)
	PSTEP(64, 4, Y10, Y11, Y12, Y13, Y14, Y15)
	ADDQ $128, DI
	ADDQ $8, SI
	ADDQ $8, R8
	DECQ BX
	JNZ  ploop

ptail:
	TESTQ CX, CX
	JZ   pstore

ploop1:
	PSTEP(0, 0, Y4, Y5, Y6, Y7, Y8, Y9)
	ADDQ $64, DI
	ADDQ $4, SI
	ADDQ $4, R8
	DECQ CX
	JNZ  ploop1

pstore:
	VADDPS  Y10, Y4, Y4
	VADDPS  (R9), Y4, Y4
	VMOVUPS Y4, (R9)
	ADDQ    R10, R9
	VADDPS  Y11, Y5, Y5
	VADDPS  (R9), Y5, Y5
	VMOVUPS Y5, (R9)
	ADDQ    R10, R9
	VADDPS  Y12, Y6, Y6
	VADDPS  (R9), Y6, Y6
	VMOVUPS Y6, (R9)
	ADDQ    R10, R9
	VADDPS  Y13, Y7, Y7
	VADDPS  (R9), Y7, Y7
	VMOVUPS Y7, (R9)
	ADDQ    R10, R9
	VADDPS  Y14, Y8, Y8
	VADDPS  (R9), Y8, Y8
	VMOVUPS Y8, (R9)
	ADDQ    R10, R9
	VADDPS  Y15, Y9, Y9
	VADDPS  (R9), Y9, Y9
	VMOVUPS Y9, (R9)
	VZEROUPPER
	RET
