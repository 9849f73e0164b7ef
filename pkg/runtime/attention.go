package runtime

import (
	"fmt"
	"math"

	"github.com/qnnkit/qnnkit/pkg/kernels"
)

// KVCache is CPUKVCacheNPU (spec §2.10), the cache the NPU prefill fills
// and the CPU decoder continues: per layer, K stored sequence-major
// [kvHeads][Cap][headDim] and V dimension-major [kvHeads][headDim][Cap],
// all values binary16 (held as float32) unless the graph runs in identity
// mode. GQA replication over n_rep query heads is by indexing (the
// replicated copies are identical).
type KVCache struct {
	Layers, KVHeads, HeadDim int
	// Capacity is the --limits value (mllm's cache_limit).
	Capacity int
	k, v     [][]float32
	n        []int
}

// NewKVCache allocates a cache of capacity positions.
func NewKVCache(layers, kvHeads, headDim, capacity int) *KVCache {
	c := &KVCache{Layers: layers, KVHeads: kvHeads, HeadDim: headDim, Capacity: capacity,
		k: make([][]float32, layers), v: make([][]float32, layers), n: make([]int, layers)}
	for i := range c.k {
		c.k[i] = make([]float32, kvHeads*capacity*headDim)
		c.v[i] = make([]float32, kvHeads*capacity*headDim)
	}
	return c
}

// Len is layer i's cached length (cache_seq_len_).
func (c *KVCache) Len(i int) int { return c.n[i] }

// SetLen sets every layer's length to n (≤ the current length): the
// hand-off to the decoder at the real prompt length R, which makes the
// entries of padded rows invisible (spec §1.7).
func (c *KVCache) SetLen(n int) {
	for i := range c.n {
		c.n[i] = min(c.n[i], n)
	}
}

// Append stores rows rows of k and v ([rows][kvHeads·headDim]) for layer i.
func (c *KVCache) Append(i int, k, v []float32, rows int) error {
	p0 := c.n[i]
	if p0+rows > c.Capacity {
		return fmt.Errorf("kv cache: layer %d: %d cached + %d new positions exceed the capacity %d (--limits)", i, p0, rows, c.Capacity)
	}
	hd, cp := c.HeadDim, c.Capacity
	for r := 0; r < rows; r++ {
		for h := 0; h < c.KVHeads; h++ {
			src := k[(r*c.KVHeads+h)*hd : (r*c.KVHeads+h+1)*hd]
			copy(c.k[i][(h*cp+p0+r)*hd:], src)
			vs := v[(r*c.KVHeads+h)*hd : (r*c.KVHeads+h+1)*hd]
			for d, x := range vs {
				c.v[i][(h*hd+d)*cp+p0+r] = x
			}
		}
	}
	c.n[i] = p0 + rows
	return nil
}

// AttentionKind selects how attention scores are computed.
type AttentionKind int

const (
	// AttnFP16 is mllm's CPU attention with fp16 operands and
	// fp16-accumulated dot products (spec §2.9, the device numerics).
	AttnFP16 AttentionKind = iota
	// AttnFloat is plain float32 attention (identity mode).
	AttnFloat
)

// attention computes causal attention for rows query rows of layer i that
// were just appended (row r at position Len(i)-rows+r) and returns
// [rows][heads·headDim]. q is [rows][heads·headDim] (rotated, float32).
//
// prefill selects the prefill order (scores divided by sqrt(hd) after
// QKᵀ, vdivq) versus the decoder's (q divided before QKᵀ, spec §6). With
// AttnFP16, q rows and probabilities are rounded to binary16 before their
// dot products (mat_mul converts the vec_dot operand to fp16), and the
// p·V dot product runs over the whole key length (its 32-element steps
// and float32 tail depend on it).
func (c *KVCache) attention(kind AttentionKind, i int, q []float32, rows, heads int, prefill bool, threads int) []float32 {
	hd, cp := c.HeadDim, c.Capacity
	L := c.n[i]
	old := L - rows
	rep := heads / c.KVHeads
	sq := float32(math.Sqrt(float64(hd)))
	out := make([]float32, rows*heads*hd)
	parallelFor(heads*rows, threads, func(lo, hi int) {
		qv := make([]float32, hd)
		sc := make([]float32, L)
		p := make([]float32, L)
		for t := lo; t < hi; t++ {
			h, r := t/rows, t%rows
			g := h / rep
			valid := old + r + 1
			copy(qv, q[(r*heads+h)*hd:(r*heads+h+1)*hd])
			if !prefill {
				for d := range qv {
					qv[d] /= sq
				}
			}
			if kind == AttnFP16 {
				for d := range qv {
					qv[d] = RoundF16(qv[d])
				}
			}
			kb := c.k[i][g*cp*hd:]
			for j := 0; j < valid; j++ {
				kr := kb[j*hd : (j+1)*hd]
				if kind == AttnFP16 {
					sc[j] = VecDotF16(qv, kr, hd)
				} else {
					sc[j] = kernels.Dot(qv, kr)
				}
				if prefill {
					sc[j] /= sq
				}
			}
			SoftmaxMLLM(p, sc, valid)
			clear(p[valid:])
			if kind == AttnFP16 {
				for j := 0; j < valid; j++ {
					p[j] = RoundF16(p[j])
				}
			}
			o := out[(r*heads+h)*hd : (r*heads+h+1)*hd]
			vb := c.v[i][g*hd*cp:]
			for d := 0; d < hd; d++ {
				vr := vb[d*cp : d*cp+L]
				if kind == AttnFP16 {
					o[d] = VecDotF16(p, vr, valid)
				} else {
					o[d] = kernels.Dot(p[:valid], vr[:valid])
				}
			}
		}
	})
	return out
}
