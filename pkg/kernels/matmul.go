package kernels

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Register tile of the micro-kernel: mr rows of x × nr rows of W.
const (
	mr = 6
	nr = 16
	// minParallelFlops: below this many multiply-adds the call runs on the
	// calling goroutine only.
	minParallelFlops = 1 << 16
)

// tuning holds the blocking parameters. Benchmarks vary them; the exported
// functions always use defaultTuning.
type tuning struct {
	kc int // deepest block of K (see kBlock): a packed kc×nr W panel (20 KiB) stays in L1
	nc int // columns of the output (rows of W) per work unit, multiple of nr
	mc int // rows of x per block (mc×kc floats stay in L2), multiple of mr
	// gemvMaxM: up to this many rows of x, outputs are dot products of
	// rows of x and W without packing (memory-bound decode path).
	gemvMaxM int
	gemvRows int // rows of W per work unit on the dot-product path, multiple of 4
	// padX: copy x to a buffer with a padded row stride when K is a
	// multiple of padKMultiple (see blocked).
	padX bool
}

// GemvMaxRows is the largest number of rows of x that MatMulT computes as
// dot products (the memory-bound decode path). With more rows it runs the
// blocked path, where each output row's value does not depend on the
// number of rows in the call (edge tiles accumulate from zero and add to
// the output exactly as full tiles do): callers may split the rows of a
// product into blocks of more than GemvMaxRows rows and get the same bits.
const GemvMaxRows = 5

// padKMultiple: for K a multiple of this, rows of x are 4 KiB-aligned apart
// and an mc×kc block of x would map to few cache sets.
const padKMultiple = 1024

func defaultTuning() tuning {
	return tuning{kc: 320, nc: 256, mc: 144, gemvMaxM: GemvMaxRows, gemvRows: 32, padX: true}
}

func checkArgs(out, x, w, bias []float32, M, N, K int) {
	if M < 0 || N < 0 || K < 0 {
		panic(fmt.Sprintf("kernels.MatMulT: negative dimension M=%d N=%d K=%d", M, N, K))
	}
	if len(out) < M*N {
		panic(fmt.Sprintf("kernels.MatMulT: len(out)=%d < M*N=%d", len(out), M*N))
	}
	if len(x) < M*K {
		panic(fmt.Sprintf("kernels.MatMulT: len(x)=%d < M*K=%d", len(x), M*K))
	}
	if len(w) < N*K {
		panic(fmt.Sprintf("kernels.MatMulT: len(w)=%d < N*K=%d", len(w), N*K))
	}
	if bias != nil && len(bias) < N {
		panic(fmt.Sprintf("kernels.MatMulT: len(bias)=%d < N=%d", len(bias), N))
	}
}

// matMulT is the shared driver: out = x·Wᵀ (+ bias) using the kernels of im.
func matMulT(im *impl, threads int, out, x, w, bias []float32, M, N, K int) {
	matMulTTuned(im, defaultTuning(), nil, threads, out, x, w, bias, M, N, K)
}

// matMulTTuned runs the product with the blocking tu; a non-nil plan
// (MatMulTTorch) sums its two-accumulator outputs as OpenBLAS does and
// always takes the blocked path.
func matMulTTuned(im *impl, tu tuning, plan *orderPlan, threads int, out, x, w, bias []float32, M, N, K int) {
	checkArgs(out, x, w, bias, M, N, K)
	if M == 0 || N == 0 {
		return
	}
	threads = resolveThreads(threads)
	if M*N*K < minParallelFlops {
		threads = 1
	}
	if K == 0 {
		for m := 0; m < M; m++ {
			initRow(out[m*N:m*N+N], bias)
		}
		return
	}
	if M <= tu.gemvMaxM && plan == nil {
		gemv(im, tu, threads, out, x, w, bias, M, N, K)
		return
	}
	blocked(im, tu, plan, threads, out, x, w, bias, M, N, K)
}

func initRow(dst, bias []float32) {
	if bias == nil {
		clear(dst)
		return
	}
	copy(dst, bias[:len(dst)])
}

// parallel runs fn(unit) for unit in [0, units) on up to threads goroutines,
// handing out units dynamically (the machine is shared; static splits
// straggle).
func parallel(threads, units int, fn func(worker, unit int)) {
	if threads > units {
		threads = units
	}
	if threads <= 1 {
		for u := 0; u < units; u++ {
			fn(0, u)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			for {
				u := int(next.Add(1) - 1)
				if u >= units {
					return
				}
				fn(worker, u)
			}
		}(t)
	}
	wg.Wait()
}

// gemv handles few rows of x: every output is a dot product of a row of x
// with a row of W, computed without packing. Work units are ranges of W rows
// (a multiple of 4, small enough to stay in L2 while the rows of x pass over
// them) so that W is read from memory once per call. Rows of x go three at a
// time through the 3×4 kernel (a pair duplicates its last row); a single
// row uses the 4-row dot kernel.
func gemv(im *impl, tu tuning, threads int, out, x, w, bias []float32, M, N, K int) {
	rowsPerUnit := tu.gemvRows
	units := (N + rowsPerUnit - 1) / rowsPerUnit
	if threads == 1 {
		units = 1
	}
	// per is a multiple of 4 so every row of W is handled by the same code
	// whatever the thread count.
	per := ((N+units-1)/units + 3) / 4 * 4
	parallel(threads, units, func(_, u int) {
		n0 := u * per
		n1 := min(n0+per, N)
		if n0 >= n1 {
			return
		}
		var tile [12]float32
		m := 0
		for ; m+1 < M; m += 3 {
			rows := min(3, M-m)
			x0 := x[m*K : m*K+K]
			x1 := x[(m+1)*K : (m+1)*K+K]
			x2 := x1
			if rows == 3 {
				x2 = x[(m+2)*K : (m+2)*K+K]
			}
			n := n0
			for ; n+4 <= n1; n += 4 {
				im.dot3x4(&tile, x0, x1, x2, w[n*K:(n+4)*K], K)
				for i := 0; i < rows; i++ {
					copy(out[(m+i)*N+n:(m+i)*N+n+4], tile[i*4:i*4+4])
				}
			}
			if n < n1 {
				for i := 0; i < rows; i++ {
					im.dotRows(out[(m+i)*N+n:(m+i)*N+n1], x[(m+i)*K:(m+i)*K+K], w[n*K:n1*K], K)
				}
			}
		}
		if m < M {
			im.dotRows(out[m*N+n0:m*N+n1], x[m*K:m*K+K], w[n0*K:n1*K], K)
		}
		if bias != nil {
			for m := 0; m < M; m++ {
				o := out[m*N+n0 : m*N+n1]
				for j := range o {
					o[j] += bias[n0+j]
				}
			}
		}
	})
}

// blocked is the cache-blocked path for many rows of x. The output is cut
// into work units of at most tu.nc columns × mUnit rows; each unit packs its
// columns of W panel by panel (tu.kc deep) and runs the mr×nr micro-kernel
// over them, reading x in place (or from a stride-padded copy).
func blocked(im *impl, tu tuning, plan *orderPlan, threads int, out, x, w, bias []float32, M, N, K int) {
	nUnits := (N + tu.nc - 1) / tu.nc
	mChunks := 1
	for nUnits*mChunks < 2*threads && M/(2*mChunks) >= 4*mr {
		mChunks *= 2
	}
	mUnit := (M + mChunks - 1) / mChunks
	mUnit = (mUnit + mr - 1) / mr * mr
	mChunks = (M + mUnit - 1) / mUnit
	units := nUnits * mChunks
	nt := min(threads, units)

	// With K a multiple of padKMultiple the rows of an mc×kc block of x fall
	// in the same few cache sets and evict each other; copy x to a buffer
	// whose row stride is a whole number of cache lines plus one.
	xp, lda := x, K
	if tu.padX && K%padKMultiple == 0 {
		lda = K + 16
		xp = make([]float32, M*lda)
		const rowsPerCopy = 64
		parallel(threads, (M+rowsPerCopy-1)/rowsPerCopy, func(_, u int) {
			for m := u * rowsPerCopy; m < min(M, (u+1)*rowsPerCopy); m++ {
				copy(xp[m*lda:m*lda+K], x[m*K:m*K+K])
			}
		})
	}

	kc := min(tu.kc, K) // the deepest block kBlock returns
	type scratch struct {
		bpack []float32 // packed W: nc/nr panels of kc×nr
		apad  []float32 // mr rows of x, zero-padded, for the last row tile
		ctmp  []float32 // mr×nr output tile for edge tiles
		ptmp  []float32 // mr×nr tile summed with two accumulators (plan)
	}
	scr := make([]scratch, nt)
	for i := range scr {
		scr[i] = scratch{
			bpack: make([]float32, tu.nc*kc),
			apad:  make([]float32, mr*kc),
			ctmp:  make([]float32, mr*nr),
			ptmp:  make([]float32, mr*nr),
		}
	}

	parallel(nt, units, func(worker, u int) {
		s := &scr[worker]
		n0 := (u % nUnits) * tu.nc
		n1 := min(n0+tu.nc, N)
		m0 := (u / nUnits) * mUnit
		m1 := min(m0+mUnit, M)
		for m := m0; m < m1; m++ {
			initRow(out[m*N+n0:m*N+n1], sliceOrNil(bias, n0, n1))
		}
		mFull := m0 + (m1-m0)/mr*mr
		for p0, kb := 0, 0; p0 < K; p0 += kb {
			kb = kBlock(K-p0, kc)
			kp := 0 // two-accumulator depth of this block (plan)
			if plan != nil {
				// Blocks follow torch's depth; terms past K are zero.
				full := kBlock(plan.depth-p0, tu.kc)
				kb = min(full, K-p0)
				kp = min(kb, full-full%8)
			}
			for jr := n0; jr < n1; jr += nr {
				cols := min(nr, n1-jr)
				off := (jr - n0) * kb
				im.packB(s.bpack[off:off+kb*nr], w, K, jr, cols, p0, kb)
			}
			if mFull < m1 {
				clear(s.apad)
				for i := 0; i < m1-mFull; i++ {
					r := (mFull + i) * lda
					copy(s.apad[i*kb:i*kb+kb], xp[r+p0:r+p0+kb])
				}
			}
			for ic := m0; ic < m1; ic += tu.mc {
				ie := min(ic+tu.mc, m1)
				for jr := n0; jr < n1; jr += nr {
					cols := min(nr, n1-jr)
					bp := s.bpack[(jr-n0)*kb : (jr-n0)*kb+kb*nr]
					for ir := ic; ir < ie; ir += mr {
						rows := min(mr, ie-ir)
						a, ld := xp[ir*lda+p0:], lda
						if rows < mr {
							a, ld = s.apad, kb
						}
						if plan != nil && pairTile(im, plan, s.ctmp, s.ptmp, kb, kp, a, ld, bp, out, ir, jr, rows, cols, N) {
							continue
						}
						if rows == mr && cols == nr {
							im.kernel(kb, a, ld, bp, out[ir*N+jr:], N)
							continue
						}
						clear(s.ctmp)
						im.kernel(kb, a, ld, bp, s.ctmp, nr)
						for i := 0; i < rows; i++ {
							o := out[(ir+i)*N+jr : (ir+i)*N+jr+cols]
							for j := range o {
								o[j] += s.ctmp[i*nr+j]
							}
						}
					}
				}
			}
		}
	})
}

// pairTile handles the tile at rows ir.., features jr.. when the plan sums
// some of its outputs with two accumulators: it computes the tile both
// ways and adds each output's sum in its own order. It reports whether
// the tile had such outputs (and was done).
func pairTile(im *impl, plan *orderPlan, ctmp, ptmp []float32, kb, kp int, a []float32, ld int, bp, out []float32, ir, jr, rows, cols, N int) bool {
	var rm [mr]uint16
	var any uint16
	for i := 0; i < rows; i++ {
		rm[i] = plan.mask(ir+i, jr)
		any |= rm[i]
	}
	if any == 0 {
		return false
	}
	clear(ctmp)
	im.kernel(kb, a, ld, bp, ctmp, nr)
	clear(ptmp)
	if any&0xff != 0 {
		im.pair(kb, kp, a, ld, bp, ptmp, nr)
	}
	if any>>8 != 0 {
		im.pair(kb, kp, a, ld, bp[8:], ptmp[8:], nr)
	}
	for i := 0; i < rows; i++ {
		o := out[(ir+i)*N+jr : (ir+i)*N+jr+cols]
		for j := range o {
			v := ctmp[i*nr+j]
			if rm[i]>>j&1 != 0 {
				v = ptmp[i*nr+j]
			}
			o[j] += v
		}
	}
	return true
}

// kBlock returns the depth of the next block of the K (summation)
// dimension when rest elements remain and blocks are at most q deep. It is
// OpenBLAS's level-3 rule (driver/level3): a full block while at least two
// remain, else the rest in one block if it fits, else half of it rounded up
// to a multiple of 8 (the kernel's unroll). Each block is summed in its own accumulator and added
// to the output, so the block boundaries decide the float32 result; with
// q = 320 (OpenBLAS's SGEMM Q for Haswell and Zen) the sums are split where
// torch's CPU matmul splits them on those machines.
func kBlock(rest, q int) int {
	switch {
	case rest >= 2*q:
		return q
	case rest > q:
		return min(q, (rest/2+7)/8*8) // min: only for tiny test q
	default:
		return rest
	}
}

func sliceOrNil(b []float32, lo, hi int) []float32 {
	if b == nil {
		return nil
	}
	return b[lo:hi]
}
