package rotate

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// vecOp right-multiplies row vectors by an n×n float64 matrix A: v ← v·A.
// apply works on B vectors at once, interleaved: x[k*B+c] is element k of
// vector c. Each vector's result depends only on that vector, never on B
// or on the other vectors, so any partition of the work gives identical
// bytes.
type vecOp interface {
	size() int
	apply(x []float64, nvec int, scratch []float64)
}

// denseOp is v·A for an arbitrary matrix: y[j] = Σ_k v[k]·A[k][j], summed
// in float64 in ascending k, each product rounded to float64 before it is
// added (explicit conversion: Go may not fuse it into an FMA).
type denseOp struct {
	n int
	a []float64
}

func (d *denseOp) size() int { return d.n }

func (d *denseOp) apply(x []float64, nvec int, y []float64) {
	n := d.n
	y = y[:n*nvec]
	clear(y)
	for k := 0; k < n; k++ {
		row := d.a[k*n : (k+1)*n]
		xk := x[k*nvec : (k+1)*nvec]
		for j, a := range row {
			yj := y[j*nvec : (j+1)*nvec]
			for c, v := range xk {
				p := float64(a * v)
				yj[c] = yj[c] + p
			}
		}
	}
	copy(x, y)
}

// hadamard implements v·A for A = diag(s)·Mᵀ·r as (M·(s∘v))·r: sign flips,
// a fast Walsh–Hadamard transform inside each of the k blocks of length m,
// the k×k base table across blocks (as S − 2·Σminority, see apply), and one
// multiplication by r. The sums are sums of ±v_i, computed
// in float64; the result agrees with the dense product after rounding to
// float32 except in rare last-bit cases (both are float64 approximations of
// the same exact value).
func (h *hadamard) size() int { return h.n }

func (h *hadamard) apply(x []float64, nvec int, scratch []float64) {
	n, m, B := h.n, h.m, nvec
	x = x[:n*B]
	for i, s := range h.s {
		if s < 0 {
			v := x[i*B : (i+1)*B]
			for c := range v {
				v[c] = -v[c]
			}
		}
	}
	for blk := 0; blk < h.k; blk++ {
		base := blk * m
		for half := 1; half < m; half <<= 1 {
			for i := 0; i < m; i += 2 * half {
				for j := i; j < i+half; j++ {
					p := x[(base+j)*B : (base+j+1)*B]
					q := x[(base+j+half)*B : (base+j+half+1)*B]
					for c := range p {
						a, b := p[c], q[c]
						p[c] = a + b
						q[c] = a - b
					}
				}
			}
		}
	}
	if h.k > 1 {
		// out[a] = Σ_{a2} had[a][a2]·t[a2], computed as S − 2·Σ(negative
		// columns) or 2·Σ(positive columns) − S, whichever set is smaller,
		// with S = Σ t summed in ascending a2 (≤ K/2+1 additions per row
		// instead of K). The values are float64 sums of float32 inputs, so
		// these sums are exact except in extreme exponent spreads.
		k := h.k
		t := scratch[:(k+1)*B]
		sum := t[k*B : (k+1)*B]
		for b := 0; b < m; b++ {
			clear(sum)
			for a := 0; a < k; a++ {
				src := x[(a*m+b)*B : (a*m+b+1)*B]
				copy(t[a*B:(a+1)*B], src)
				src = src[:len(sum)]
				for c, v := range src {
					sum[c] += v
				}
			}
			for a := 0; a < k; a++ {
				out := x[(a*m+b)*B : (a*m+b+1)*B]
				clear(out)
				for _, a2 := range h.minority[a] {
					src := t[a2*B : (a2+1)*B]
					src = src[:len(out)]
					for c, v := range src {
						out[c] += v
					}
				}
				s := sum[:len(out)]
				if h.minorityNeg[a] {
					for c := range out {
						out[c] = s[c] - 2*out[c]
					}
				} else {
					for c := range out {
						out[c] = 2*out[c] - s[c]
					}
				}
			}
		}
	}
	for i := range x {
		x[i] *= h.r
	}
}

// newOp returns the fastest exact-form operator for the n×n matrix a: the
// factored Hadamard form when a is one of mllm's random Hadamard matrices
// (and dense is false), else the dense product.
func newOp(a []float64, n int, dense bool) vecOp {
	if !dense {
		if h := factorHadamard(a, n); h != nil {
			return h
		}
	}
	return &denseOp{n: n, a: a}
}

// engine runs the per-vector transforms on a fixed number of goroutines.
type engine struct {
	workers int
	// kern, when not nil, runs hadamard operators on the fast path
	// (fwht.go) with these primitives; nil selects the generic code for
	// every operator. Both give the same bytes.
	kern *fwhtKernels
}

// newEngine returns an engine with the best available primitives.
func newEngine(workers int) *engine { return &engine{workers: workers, kern: bestKernels()} }

const vecBlock = 16 // vectors gathered per work item

// parallel runs fn(item) for item in [0, items) on e.workers goroutines,
// each with its own scratch buffers of the given sizes.
func (e *engine) parallel(items, xlen, slen int, fn func(item int, x, s []float64)) {
	w := e.workers
	if w > items {
		w = items
	}
	if w < 1 {
		w = 1
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := make([]float64, xlen)
			s := make([]float64, slen)
			for {
				it := int(next.Add(1)) - 1
				if it >= items {
					return
				}
				fn(it, x, s)
			}
		}()
	}
	wg.Wait()
}

// rightMul sets W ← f32(W·A) for W = data viewed as [rows][n] (each row a
// vector).
func (e *engine) rightMul(data []float32, op vecOp) {
	if h, ok := op.(*hadamard); ok && e.kern != nil && h.fastOK() {
		e.rightMulFast(data, h, nil)
		return
	}
	n := op.size()
	rows := len(data) / n
	items := (rows + vecBlock - 1) / vecBlock
	e.parallel(items, n*vecBlock, scratchLen(n, vecBlock), func(it int, x, s []float64) {
		r0 := it * vecBlock
		nv := min(vecBlock, rows-r0)
		for c := 0; c < nv; c++ {
			row := data[(r0+c)*n : (r0+c+1)*n]
			for k, v := range row {
				x[k*nv+c] = float64(v)
			}
		}
		op.apply(x, nv, s)
		for c := 0; c < nv; c++ {
			row := data[(r0+c)*n : (r0+c+1)*n]
			for k := range row {
				row[k] = float32(x[k*nv+c])
			}
		}
	})
}

// leftMulT sets W_g ← f32(Aᵀ·W_g) for every group W_g of data viewed as
// [groups][n][cols] (each column of a group is a vector).
func (e *engine) leftMulT(data []float32, cols int, op vecOp) {
	if h, ok := op.(*hadamard); ok && e.kern != nil && h.fastOK() {
		e.leftMulTFast(data, cols, h)
		return
	}
	n := op.size()
	groups := len(data) / (n * cols)
	per := (cols + vecBlock - 1) / vecBlock
	e.parallel(groups*per, n*vecBlock, scratchLen(n, vecBlock), func(it int, x, s []float64) {
		g, c0 := it/per, (it%per)*vecBlock
		nv := min(vecBlock, cols-c0)
		e.leftMulTItem(data[g*n*cols:(g+1)*n*cols], cols, c0, nv, op, x, s)
	})
}

// leftMulTItem transforms columns [c0, c0+nv) of one [n][cols] group with
// the generic code (x and s: scratch of n·nv and scratchLen(n, nv)).
func (e *engine) leftMulTItem(blk []float32, cols, c0, nv int, op vecOp, x, s []float64) {
	n := op.size()
	for k := 0; k < n; k++ {
		src := blk[k*cols+c0 : k*cols+c0+nv]
		for c, v := range src {
			x[k*nv+c] = float64(v)
		}
	}
	op.apply(x, nv, s)
	for k := 0; k < n; k++ {
		dst := blk[k*cols+c0 : k*cols+c0+nv]
		for c := range dst {
			dst[c] = float32(x[k*nv+c])
		}
	}
}

func scratchLen(n, b int) int { return (n + 1) * b }

// checkShape guards the views used by rightMul and leftMulT.
func checkLen(name string, data []float32, unit int) error {
	if unit <= 0 || len(data)%unit != 0 {
		return fmt.Errorf("rotate: %s has %d elements, not a multiple of %d", name, len(data), unit)
	}
	return nil
}

func defaultWorkers() int { return runtime.GOMAXPROCS(0) }
