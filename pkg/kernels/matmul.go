package kernels

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Blocking parameters. mr×nr is the register tile of the micro-kernel; a
// packed kcBlock×nr panel of W (16 KiB) stays in L1 while the micro-kernel
// streams rows of x; ncBlock columns of W are packed per work unit.
const (
	mr      = 6
	nr      = 16
	kcBlock = 256
	ncBlock = 256
	mcBlock = 144
	// gemvMaxM: up to this many rows of x, each output row is computed as
	// dot products against the rows of W (no packing; memory-bound path).
	gemvMaxM = 2
	// minParallelFlops: below this many multiply-adds the call runs on the
	// calling goroutine only.
	minParallelFlops = 1 << 16
)

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
	if M <= gemvMaxM {
		gemv(im, threads, out, x, w, bias, M, N, K)
		return
	}
	blocked(im, threads, out, x, w, bias, M, N, K)
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
// with a row of W, computed in place without packing. Work units are ranges
// of W rows so that each row of W is read from memory once per call.
func gemv(im *impl, threads int, out, x, w, bias []float32, M, N, K int) {
	const rowsPerUnit = 64
	units := (N + rowsPerUnit - 1) / rowsPerUnit
	if threads == 1 {
		units = 1
	}
	// per is a multiple of 4 so every row of W is handled by the same code
	// (4-row or single-row kernel) whatever the thread count.
	per := ((N+units-1)/units + 3) / 4 * 4
	parallel(threads, units, func(_, u int) {
		n0 := u * per
		n1 := min(n0+per, N)
		if n0 >= n1 {
			return
		}
		for m := 0; m < M; m++ {
			o := out[m*N+n0 : m*N+n1]
			im.dotRows(o, x[m*K:m*K+K], w[n0*K:n1*K], K)
			if bias != nil {
				for j := range o {
					o[j] += bias[n0+j]
				}
			}
		}
	})
}

// blocked is the cache-blocked path for many rows of x. The output is cut
// into work units of at most ncBlock columns × mUnit rows; each unit packs
// its columns of W panel by panel (kcBlock deep) and runs the mr×nr
// micro-kernel over them, reading x in place.
func blocked(im *impl, threads int, out, x, w, bias []float32, M, N, K int) {
	nUnits := (N + ncBlock - 1) / ncBlock
	mChunks := 1
	for nUnits*mChunks < 2*threads && M/(2*mChunks) >= 4*mr {
		mChunks *= 2
	}
	mUnit := (M + mChunks - 1) / mChunks
	mUnit = (mUnit + mr - 1) / mr * mr
	mChunks = (M + mUnit - 1) / mUnit
	units := nUnits * mChunks
	nt := min(threads, units)

	kc := min(kcBlock, K)
	type scratch struct {
		bpack []float32 // packed W: ncBlock/nr panels of kc×nr
		apad  []float32 // mr rows of x, zero-padded, for the last row tile
		ctmp  []float32 // mr×nr output tile for edge tiles
	}
	scr := make([]scratch, nt)
	for i := range scr {
		scr[i] = scratch{
			bpack: make([]float32, ncBlock*kc),
			apad:  make([]float32, mr*kc),
			ctmp:  make([]float32, mr*nr),
		}
	}

	parallel(nt, units, func(worker, u int) {
		s := &scr[worker]
		n0 := (u % nUnits) * ncBlock
		n1 := min(n0+ncBlock, N)
		m0 := (u / nUnits) * mUnit
		m1 := min(m0+mUnit, M)
		for m := m0; m < m1; m++ {
			initRow(out[m*N+n0:m*N+n1], sliceOrNil(bias, n0, n1))
		}
		mFull := m0 + (m1-m0)/mr*mr
		for p0 := 0; p0 < K; p0 += kc {
			kb := min(kc, K-p0)
			for jr := n0; jr < n1; jr += nr {
				cols := min(nr, n1-jr)
				off := (jr - n0) * kb
				im.packB(s.bpack[off:off+kb*nr], w, K, jr, cols, p0, kb)
			}
			if mFull < m1 {
				clear(s.apad)
				for i := 0; i < m1-mFull; i++ {
					r := (mFull + i) * K
					copy(s.apad[i*kb:i*kb+kb], x[r+p0:r+p0+kb])
				}
			}
			for ic := m0; ic < m1; ic += mcBlock {
				ie := min(ic+mcBlock, m1)
				for jr := n0; jr < n1; jr += nr {
					cols := min(nr, n1-jr)
					bp := s.bpack[(jr-n0)*kb : (jr-n0)*kb+kb*nr]
					for ir := ic; ir < ie; ir += mr {
						rows := min(mr, ie-ir)
						var a []float32
						lda := K
						if rows == mr {
							a = x[ir*K+p0:]
						} else {
							a, lda = s.apad, kb
						}
						if rows == mr && cols == nr {
							im.kernel(kb, a, lda, bp, out[ir*N+jr:], N)
							continue
						}
						clear(s.ctmp)
						im.kernel(kb, a, lda, bp, s.ctmp, nr)
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

func sliceOrNil(b []float32, lo, hi int) []float32 {
	if b == nil {
		return nil
	}
	return b[lo:hi]
}
