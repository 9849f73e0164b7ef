package runtime

import (
	"fmt"
	"sort"

	"github.com/qnnkit/qnnkit/pkg/kernels"
)

// GraphOptions configures the prefill emulation.
type GraphOptions struct {
	// Rounding selects the HTP op-package numerics (--htp-rounding).
	Rounding Rounding
	// ShadowLayers lists the layers run as QwenNPU_CPUDecoderWithShadow
	// (spec §1.5, §3); empty for the rotated configs.
	ShadowLayers []int
	// Threads bounds the goroutines of the integer GEMMs and attention
	// (≤ 0: GOMAXPROCS).
	Threads int
	// Trace, when non-nil, observes the float input and float output
	// (dequantized, before any bias) of every linear as the graph computes
	// them; tests use it to derive activation ranges.
	Trace func(l *QLinear, in, out []float32, rows int)
}

// Graph is the emulated prefill of demo_qwen_npu (spec §1.5, §2.14): per
// chunk, the embedding, every layer's CPU and QNN parts in order, and the
// final CPU norm; lm_head on whichever rows are asked for.
type Graph struct {
	M      *NPUModel
	Opt    GraphOptions
	rope   *RoPETable
	shadow map[int]bool
}

// NewGraph validates the options against the model.
func NewGraph(m *NPUModel, opt GraphOptions) (*Graph, error) {
	g := &Graph{M: m, Opt: opt, rope: NewRoPETable(m.Config.RopeTheta, m.Config.HeadDim), shadow: map[int]bool{}}
	for _, i := range opt.ShadowLayers {
		if i < 0 || i >= len(m.Layers) {
			return nil, fmt.Errorf("shadow layer %d out of range [0,%d)", i, len(m.Layers))
		}
		g.shadow[i] = true
	}
	return g, nil
}

// ShadowList returns the shadow layers in ascending order.
func (g *Graph) ShadowList() []int {
	var s []int
	for i := range g.shadow {
		s = append(s, i)
	}
	sort.Ints(s)
	return s
}

// NewCache allocates a KV cache for the model with capacity positions.
func (g *Graph) NewCache(capacity int) *KVCache {
	c := g.M.Config
	return NewKVCache(c.NumLayers, c.NumKVHeads, c.HeadDim, capacity)
}

// Embed returns the float32 embedding rows of tokens; the pad id
// vocab_size gives an all-zero row (CPUEmbedding under USE_QNN, spec §1.3).
func (g *Graph) Embed(tokens []int) ([]float32, error) {
	c := g.M.Config
	h := c.HiddenSize
	x := make([]float32, len(tokens)*h)
	for r, t := range tokens {
		switch {
		case t == c.VocabSize:
		case t >= 0 && t < c.VocabSize:
			copy(x[r*h:(r+1)*h], g.M.Embed[t*h:(t+1)*h])
		default:
			return nil, fmt.Errorf("prefill: token %d at row %d is outside [0,%d]", t, r, c.VocabSize)
		}
	}
	return x, nil
}

// Chunk runs one prefill chunk: tokens (already padded, id vocab_size for
// padding) at positions cache.Len(0).., appending every layer's K/V to the
// cache. It returns the final residual stream x_L, [rows][hidden].
func (g *Graph) Chunk(tokens []int, cache *KVCache) ([]float32, error) {
	x, err := g.Embed(tokens)
	if err != nil {
		return nil, err
	}
	rows := len(tokens)
	for i := range g.M.Layers {
		if x, err = g.layer(i, x, rows, cache); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// Logits is the CPU tail (spec §1.7): model.norm (CPU RMSNorm) and the F32
// lm_head on the selected rows of x. Returns [len(sel)][vocab]. The
// lm_head product uses pkg/kernels (float32 FMA, its own summation order,
// not vec_dot_fp32's).
func (g *Graph) Logits(x []float32, sel []int) []float32 {
	c := g.M.Config
	h := c.HiddenSize
	n := make([]float32, len(sel)*h)
	for i, r := range sel {
		copy(n[i*h:(i+1)*h], x[r*h:(r+1)*h])
	}
	RMSNorm(NormCPU, n, n, g.M.Norm, len(sel), float32(c.RMSNormEps))
	out := make([]float32, len(sel)*c.VocabSize)
	kernels.MatMulTThreads(g.Opt.Threads, out, n, g.M.LMHead, nil, len(sel), c.VocabSize, h)
	return out
}

// linear runs l on float input a ([rows][In]) either as the quantized
// Conv2d (a is quantized by quant) or, in identity mode, as a float
// product. It returns the float output (dequantized by deq, or the float
// product + bias) and, for the quantized path, the output codes.
type quantFn func(dst []int16, x []float32)
type deqFn func(dst []float32, q []int16)

func (g *Graph) trace(l *QLinear, in, out []float32, rows int) {
	if g.Opt.Trace != nil {
		g.Opt.Trace(l, in, out, rows)
	}
}

// floatLinear is the identity-mode linear: out = a·Fᵀ (+ bias).
func (g *Graph) floatLinear(l *QLinear, a []float32, rows int, bias bool) []float32 {
	out := make([]float32, rows*l.Out)
	kernels.MatMulTThreads(g.Opt.Threads, out, a, l.F, nil, rows, l.Out, l.In)
	g.trace(l, a, out, rows)
	if bias && l.Bias != nil {
		for r := 0; r < rows; r++ {
			for n, b := range l.Bias {
				out[r*l.Out+n] += b
			}
		}
	}
	return out
}

// intLinear runs the Conv2d on codes qa (step inStep) with output width
// bits and returns the output codes.
func (g *Graph) intLinear(l *QLinear, qa []int16, rows int, inStep float32, bits int) ([]int16, float32) {
	outStep := StepBits(l.OutRange, bits)
	codes := make([]int16, rows*l.Out)
	l.Forward(codes, qa, rows, inStep, outStep, bits, g.Opt.Threads)
	return codes, outStep
}

// layer runs decoder layer i (spec §1.5 partition, §2.14 numerics).
func (g *Graph) layer(i int, x []float32, rows int, cache *KVCache) ([]float32, error) {
	c := g.M.Config
	L := &g.M.Layers[i]
	hid := c.HiddenSize
	mode := g.Opt.Rounding
	ident := g.M.Identity
	eps := float32(c.RMSNormEps)
	first := i == 0 || g.shadow[i-1]

	// ---- attention input: RMSNorm + Quantize(I16) — CPU for first-type
	// layers, HTP otherwise (continuing the previous layer's graph).
	n1 := make([]float32, rows*hid)
	if first {
		RMSNorm(NormCPU, n1, x, L.InputNorm, rows, eps)
	} else {
		RMSNorm(htpNormKind(mode), n1, x, L.InputNorm, rows, eps)
	}
	var q, k, v []float32
	if ident {
		q = g.floatLinear(&L.Q, n1, rows, true)
		k = g.floatLinear(&L.K, n1, rows, true)
		v = g.floatLinear(&L.V, n1, rows, true)
	} else {
		inStep := Step16(L.Q.InRange)
		qa := make([]int16, rows*hid)
		if first {
			QuantizeCPU(qa, n1, inStep, 16)
		} else {
			QuantizeHTP(qa, n1, inStep, 16, mode)
		}
		deqAdd := func(l *QLinear, f16 bool) []float32 {
			codes, os := g.intLinear(l, qa, rows, inStep, 16)
			out := make([]float32, len(codes))
			bias := l.Bias
			if bias == nil {
				bias = make([]float32, l.Out)
			}
			if g.Opt.Trace != nil {
				Dequantize(out, codes, os, 16, false, RoundRef)
				g.trace(l, n1, out, rows)
			}
			DequantizeAdd(out, codes, os, bias, f16, mode)
			return out
		}
		q = deqAdd(&L.Q, false)
		k = deqAdd(&L.K, true)
		v = deqAdd(&L.V, true)
	}

	// ---- CPU: RoPE, KV cache, attention.
	p0 := cache.Len(i)
	g.rope.Apply(q, rows, c.NumHeads, p0, false)
	g.rope.Apply(k, rows, c.NumKVHeads, p0, !ident)
	if err := cache.Append(i, k, v, rows); err != nil {
		return nil, err
	}
	kind := AttnFP16
	if ident {
		kind = AttnFloat
	}
	o := cache.attention(kind, i, q, rows, c.NumHeads, true, g.Opt.Threads)

	// ---- o_proj (W8A8) + residual.
	h := make([]float32, rows*hid)
	if ident {
		copy(h, g.floatLinear(&L.O, o, rows, false))
	} else {
		inStep := Step8(L.O.InRange)
		oa := make([]int16, len(o))
		QuantizeCPU(oa, o, inStep, 8)
		codes, os := g.intLinear(&L.O, oa, rows, inStep, 8)
		Dequantize(h, codes, os, 8, false, mode)
		g.trace(&L.O, o, h, rows)
	}
	for j := range h {
		h[j] += x[j]
	}

	// ---- MLP.
	n2 := make([]float32, rows*hid)
	RMSNorm(htpNormKind(mode), n2, h, L.PostNorm, rows, eps)
	inter := c.IntermediateSize
	sh := g.shadow[i] && !ident
	var m []float32 // SiLU(gate)·up
	var ua []int16
	var upStep float32
	if ident {
		gt := g.floatLinear(&L.Gate, n2, rows, false)
		up := g.floatLinear(&L.Up, n2, rows, false)
		m = make([]float32, len(gt))
		for j := range gt {
			m[j] = float32(float32(sigmoid64(float64(gt[j]))) * gt[j] * up[j])
		}
	} else {
		upStep = Step8(L.Up.InRange)
		ua = make([]int16, rows*hid)
		QuantizeHTP(ua, n2, upStep, 8, mode)
		gc, gs := g.intLinear(&L.Gate, ua, rows, upStep, 8)
		uc, us := g.intLinear(&L.Up, ua, rows, upStep, 8)
		gt := make([]float32, len(gc))
		up := make([]float32, len(uc))
		Dequantize(gt, gc, gs, 8, !sh, mode)
		Dequantize(up, uc, us, 8, !sh, mode)
		if g.Opt.Trace != nil {
			gr := make([]float32, len(gc))
			Dequantize(gr, gc, gs, 8, false, RoundRef)
			g.trace(&L.Gate, n2, gr, rows)
			Dequantize(gr, uc, us, 8, false, RoundRef)
			g.trace(&L.Up, n2, gr, rows)
		}
		m = make([]float32, len(gt))
		if sh {
			for j := range gt {
				s := float32(sigmoid64(float64(gt[j])))
				m[j] = float32(s*gt[j]) * up[j]
			}
		} else {
			for j := range gt {
				m[j] = MulF16(SiLUF16(gt[j]), up[j])
			}
		}
	}

	out := make([]float32, rows*hid)
	switch {
	case ident:
		copy(out, g.floatLinear(&L.Down, m, rows, false))
	case sh:
		// Shadow layer: int8 down_proj, then ShadowLinear on the CPU.
		inStep := Step8(L.Down.InRange)
		da := make([]int16, rows*inter)
		QuantizeHTP(da, m, inStep, 8, mode)
		codes, os := g.intLinear(&L.Down, da, rows, inStep, 8)
		Dequantize(out, codes, os, 8, false, mode)
		g.trace(&L.Down, m, out, rows)
		for j := range out {
			out[j] += h[j]
		}
		return shadowLinear(&L.Down, m, codes, out, rows), nil
	default:
		inStep := Step16(L.Down.InRange)
		da := make([]int16, rows*inter)
		QuantizeHTPF16(da, m, inStep, 16, mode)
		codes, os := g.intLinear(&L.Down, da, rows, inStep, 16)
		Dequantize(out, codes, os, 16, false, mode)
		g.trace(&L.Down, m, out, rows)
	}
	for j := range out {
		out[j] += h[j]
	}
	return out, nil
}
