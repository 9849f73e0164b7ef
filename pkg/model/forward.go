package model

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/qnnkit/qnnkit/pkg/kernels"
)

// LinearHook observes one Linear call: in is [rows][l.In], out is
// [rows][l.Out] with the bias already added. It is called after the
// product, in Weights.Linears order (per layer q, k, v, o, gate, up, down;
// then lm_head), once per call (q, k and v receive the same in). The slices
// are scratch space, valid only during the call: a hook must copy what it
// keeps. It must not modify in; it may modify out, and the forward then
// continues with the modified values (e.g. to simulate quantization).
type LinearHook func(l *Linear, in, out []float32, rows int)

// Model runs the float32 forward pass of a decoder-only transformer
// (Qwen2/Llama semantics as in Hugging Face transformers): embedding,
// RMSNorm, rotate-half RoPE, grouped-query causal attention, SiLU-gated
// MLP, final RMSNorm and lm_head.
//
// The elementwise steps and reductions round exactly as torch's float32
// CPU kernels on AVX2 do (RMSNorm's sum, SiLU and softmax with SLEEF's
// exp, softmax's lane order), and every product of more than
// kernels.GemvMaxRows rows (the Linears, and attention's q·kᵀ and p·v)
// sums each output in the order of the single-threaded OpenBLAS call torch
// makes (kernels.MatMulTTorch); RoPE's inv_freq, cos and sin are SLEEF's
// powf/sinf/cosf bit for bit (see RoPE). With the AVX2+FMA kernels the
// logits are therefore torch's (one OpenBLAS thread) bit for bit:
// TestForwardMatchesTorch and TestLlamaMatchesTorch require it.
//
// A Model keeps no per-call state: methods may run concurrently with
// different caches, provided Hook is safe for concurrent use.
type Model struct {
	// W holds the weights; the forward reads it only.
	W *Weights
	// Hook, when non-nil, is called after every Linear.
	Hook LinearHook
	// RoPE is the rotary embedding used by LayerForward (NewRoPE of the
	// config's rope_theta and head_dim).
	RoPE *RoPE
}

// New returns a Model over w.
func New(w *Weights) *Model {
	return &Model{W: w, RoPE: NewRoPE(w.Config.RopeTheta, w.Config.HeadDim)}
}

// Linear applies l to in ([rows][l.In]) and returns a new [rows][l.Out]
// slice, calling the hook.
func (m *Model) Linear(l *Linear, in []float32, rows int) []float32 {
	if len(in) < rows*l.In {
		panic(fmt.Sprintf("model: %s: %d rows need %d inputs, have %d", l.Name, rows, rows*l.In, len(in)))
	}
	out := make([]float32, rows*l.Out)
	l.Apply(out, in, rows, 0, rows)
	if m.Hook != nil {
		m.Hook(l, in[:rows*l.In], out, rows)
	}
	return out
}

// Embed returns the embeddings of tokens, [len(tokens)][hidden]. It panics
// on an id outside [0, vocab); Forward checks ids first.
func (m *Model) Embed(tokens []int) []float32 {
	h := m.W.Config.HiddenSize
	x := make([]float32, len(tokens)*h)
	for r, t := range tokens {
		copy(x[r*h:(r+1)*h], m.W.Embed[t*h:(t+1)*h])
	}
	return x
}

// Forward runs tokens at positions cache.Len().. and returns the logits of
// every row, [len(tokens)][vocab]. The cache, when non-nil, receives the
// new keys and values; a nil cache means a fresh sequence at position 0
// that is not kept. It fails on an id outside the vocabulary, when the
// cache's layers have different lengths, or when the capacity would be
// exceeded (the cache is then left unchanged).
func (m *Model) Forward(tokens []int, cache *KVCache) ([]float32, error) {
	c := m.W.Config
	for i, t := range tokens {
		if t < 0 || t >= c.VocabSize {
			return nil, fmt.Errorf("model forward: token %d at index %d is outside the vocabulary [0,%d)", t, i, c.VocabSize)
		}
	}
	if cache != nil {
		if err := cache.check(c); err != nil {
			return nil, fmt.Errorf("model forward: %w", err)
		}
		n := cache.Len()
		for i := range cache.lens {
			if cache.lens[i] != n {
				return nil, fmt.Errorf("model forward: kv cache layers have different lengths (layer %d: %d, minimum %d)", i, cache.lens[i], n)
			}
		}
		if n+len(tokens) > cache.Cap() {
			return nil, fmt.Errorf("model forward: %d cached + %d new positions exceed the kv cache capacity %d", n, len(tokens), cache.Cap())
		}
	}
	rows := len(tokens)
	x := m.Embed(tokens)
	for i := range m.W.Layers {
		if err := m.LayerForward(i, x, rows, cache); err != nil {
			return nil, err
		}
	}
	return m.Logits(x, rows), nil
}

// LayerForward runs decoder layer i on the residual stream x
// ([rows][hidden]) in place. Row r is at position cache.LayerLen(i)+r and
// attends to the cached positions and to rows ≤ r; layer i's keys and
// values are appended to the cache. With a nil cache the rows are at
// positions 0..rows-1 and attend only to each other.
func (m *Model) LayerForward(i int, x []float32, rows int, cache *KVCache) error {
	c := m.W.Config
	if i < 0 || i >= len(m.W.Layers) {
		return fmt.Errorf("model: layer %d out of range [0,%d)", i, len(m.W.Layers))
	}
	hid := c.HiddenSize
	if len(x) < rows*hid {
		return fmt.Errorf("model: layer %d: %d rows need %d residual elements, have %d", i, rows, rows*hid, len(x))
	}
	x = x[:rows*hid]
	l := &m.W.Layers[i]
	h := make([]float32, rows*hid)
	RMSNorm(h, x, l.InputNorm, rows, c.RMSNormEps)
	q := m.Linear(&l.Q, h, rows)
	k := m.Linear(&l.K, h, rows)
	v := m.Linear(&l.V, h, rows)

	pos0 := 0
	if cache != nil {
		if err := cache.check(c); err != nil {
			return fmt.Errorf("model: layer %d: %w", i, err)
		}
		pos0 = cache.LayerLen(i)
		if pos0+rows > cache.Cap() {
			return fmt.Errorf("model: layer %d: %d cached + %d new positions exceed the kv cache capacity %d", i, pos0, rows, cache.Cap())
		}
	}
	m.RoPE.Apply(q, rows, c.NumHeads, pos0)
	m.RoPE.Apply(k, rows, c.NumKVHeads, pos0)

	var ks, vs []float32
	stride := rows
	if cache != nil {
		if err := cache.Append(i, k, v, rows); err != nil {
			return fmt.Errorf("model: layer %d: %w", i, err)
		}
		ks, vs, stride = cache.K(i), cache.V(i), cache.Cap()
	} else {
		ks, vs = headMajor(k, rows, c.NumKVHeads, c.HeadDim), headMajor(v, rows, c.NumKVHeads, c.HeadDim)
	}
	att := Attention(q, ks, vs, rows, pos0, stride, c.NumHeads, c.NumKVHeads, c.HeadDim)
	o := m.Linear(&l.O, att, rows)
	for j := range x {
		x[j] += o[j]
	}

	RMSNorm(h, x, l.PostNorm, rows, c.RMSNormEps)
	g := m.Linear(&l.Gate, h, rows)
	u := m.Linear(&l.Up, h, rows)
	kernels.ParallelRanges(len(g), 1<<14, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			g[j] = SiLU(g[j]) * u[j]
		}
	})
	d := m.Linear(&l.Down, g, rows)
	for j := range x {
		x[j] += d[j]
	}
	return nil
}

// Logits applies the final norm and lm_head to rows rows of x (left
// unchanged) and returns [rows][vocab].
func (m *Model) Logits(x []float32, rows int) []float32 {
	c := m.W.Config
	h := make([]float32, rows*c.HiddenSize)
	RMSNorm(h, x, m.W.Norm, rows, c.RMSNormEps)
	return m.Linear(&m.W.LMHead, h, rows)
}

// headMajor reorders [rows][heads][hd] into [heads][rows][hd].
func headMajor(a []float32, rows, heads, hd int) []float32 {
	out := make([]float32, len(a))
	for r := 0; r < rows; r++ {
		for h := 0; h < heads; h++ {
			copy(out[(h*rows+r)*hd:(h*rows+r+1)*hd], a[(r*heads+h)*hd:(r*heads+h+1)*hd])
		}
	}
	return out
}

// Attention is grouped-query causal attention in float32. q is
// [rows][heads·hd] (already rotated); ks and vs hold kvHeads blocks of
// stride positions × hd (head-major, as KVCache stores them), of which the
// first pos0+rows are used. Query row r (position pos0+r) attends to keys
// 0..pos0+r with weights softmax(q·kᵀ · hd^-½) (masked keys get exactly 0);
// query head h reads kv head h / (heads/kvHeads), as HF's repeat_kv. The
// result is [rows][heads·hd].
//
// Work is split into (kv head, block of query rows) units run on
// GOMAXPROCS goroutines; a block only reads the keys it can see.
func Attention(q, ks, vs []float32, rows, pos0, stride, heads, kvHeads, hd int) []float32 {
	out := make([]float32, rows*heads*hd)
	blocks := (rows + attnBlock - 1) / attnBlock
	units := kvHeads * blocks
	workers := min(runtime.GOMAXPROCS(0), units)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a attnScratch
			for {
				u := int(next.Add(1) - 1)
				if u >= units {
					return
				}
				g, b := u/blocks, u%blocks
				r0 := b * attnBlock
				a.run(out, q, ks, vs, g, r0, min(rows, r0+attnBlock), rows, pos0, stride, heads, kvHeads, hd)
			}
		}()
	}
	wg.Wait()
	return out
}

// attnBlock is the number of query rows per attention work unit.
const attnBlock = 64

// attnScratch holds one worker's buffers.
type attnScratch struct{ qg, sc, vt, og []float32 }

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// run computes query rows r0..r1-1 (of rows) of the heads reading kv head g.
func (a *attnScratch) run(out, q, ks, vs []float32, g, r0, r1, rows, pos0, stride, heads, kvHeads, hd int) {
	rep := heads / kvHeads
	n := r1 - r0
	L := pos0 + r1 // keys visible to the last row of the block
	scale := float32(1 / math.Sqrt(float64(hd)))
	a.qg = grow(a.qg, rep*n*hd)
	a.sc = grow(a.sc, rep*n*L)
	a.vt = grow(a.vt, hd*L)
	a.og = grow(a.og, rep*n*hd)
	// Gather the rep query heads of group g: unit row j*n+i is head
	// g*rep+j of row r0+i.
	for j := 0; j < rep; j++ {
		h := g*rep + j
		for i := 0; i < n; i++ {
			r := r0 + i
			copy(a.qg[(j*n+i)*hd:(j*n+i+1)*hd], q[(r*heads+h)*hd:(r*heads+h+1)*hd])
		}
	}
	// torch computes each head's q·kᵀ as one sgemm over all keys (BLAS M)
	// and queries (BLAS N), and p·v over hd (M) and queries (N) with all
	// keys as the depth; these calls are parts of those products.
	kernels.MatMulTTorchThreads(1, a.sc, a.qg, ks[g*stride*hd:(g*stride+L)*hd], nil, rep*n, L, hd,
		kernels.TorchGEMM{Tokens: rows, Features: pos0 + rows, Depth: hd, Row0: r0, Period: n})
	for j := 0; j < rep; j++ {
		for i := 0; i < n; i++ {
			row := a.sc[(j*n+i)*L : (j*n+i+1)*L]
			valid := pos0 + r0 + i + 1
			for t := 0; t < valid; t++ {
				row[t] *= scale
			}
			// torch's row has all pos0+rows keys, the later ones masked.
			SoftmaxPrefix(row[:valid], pos0+rows)
			clear(row[valid:])
		}
	}
	vg := vs[g*stride*hd : (g*stride+L)*hd]
	for t := 0; t < L; t++ {
		for d := 0; d < hd; d++ {
			a.vt[d*L+t] = vg[t*hd+d]
		}
	}
	kernels.MatMulTTorchThreads(1, a.og, a.sc, a.vt, nil, rep*n, hd, L,
		kernels.TorchGEMM{Tokens: rows, Features: hd, Depth: pos0 + rows, Row0: r0, Period: n})
	for j := 0; j < rep; j++ {
		h := g*rep + j
		for i := 0; i < n; i++ {
			r := r0 + i
			copy(out[(r*heads+h)*hd:(r*heads+h+1)*hd], a.og[(j*n+i)*hd:(j*n+i+1)*hd])
		}
	}
}
