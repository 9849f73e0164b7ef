package runtime

import (
	"fmt"
	"slices"
	"time"
)

// Prefill runs a prompt through the emulated NPU graph in chunks of Chunk
// rows (spec §1.6): chunks run in order, each at the positions that follow
// the previous ones (RoPE and the causal mask continue), the last chunk is
// padded with id vocab_size (zero embedding rows).
type Prefill struct {
	G     *Graph
	Chunk int
}

// NewPrefill returns a chunked prefill over g.
func NewPrefill(g *Graph, chunk int) *Prefill { return &Prefill{G: g, Chunk: chunk} }

// padded returns the chunk c of tokens padded to Chunk rows.
func (p *Prefill) padded(tokens []int, c int) []int {
	v := p.G.M.Config.VocabSize
	lo := c * p.Chunk
	ch := make([]int, p.Chunk)
	for r := range ch {
		if lo+r < len(tokens) {
			ch[r] = tokens[lo+r]
		} else {
			ch[r] = v
		}
	}
	return ch
}

func (p *Prefill) check(tokens []int, cache *KVCache) error {
	if p.Chunk <= 0 {
		return fmt.Errorf("prefill: chunk size %d must be positive", p.Chunk)
	}
	if len(tokens) == 0 {
		return fmt.Errorf("prefill: empty prompt")
	}
	need := cache.Len(0) + (len(tokens)+p.Chunk-1)/p.Chunk*p.Chunk
	if need > cache.Capacity {
		return fmt.Errorf("prefill: %d prompt tokens padded to chunks of %d need %d kv cache positions, more than --limits %d",
			len(tokens), p.Chunk, need, cache.Capacity)
	}
	return nil
}

// Run prefills tokens (R = len(tokens)) into cache and returns the logits
// of the last real token: row (R−1) mod C of the last chunk (spec §1.6,
// §1.7). Afterwards the cache holds exactly R valid positions (the padded
// rows' entries are dropped, as the hand-off to the decoder does).
func (p *Prefill) Run(tokens []int, cache *KVCache) ([]float32, error) {
	if err := p.check(tokens, cache); err != nil {
		return nil, err
	}
	base := cache.Len(0)
	nc := (len(tokens) + p.Chunk - 1) / p.Chunk
	var x []float32
	var err error
	for c := 0; c < nc; c++ {
		if x, err = p.G.Chunk(p.padded(tokens, c), cache); err != nil {
			return nil, err
		}
	}
	cache.SetLen(base + len(tokens))
	return p.G.Logits(x, []int{(len(tokens) - 1) % p.Chunk}), nil
}

// AllLogits is Run returning the logits of every real row, [R][vocab]
// (lm_head on all rows; used by the accuracy report).
func (p *Prefill) AllLogits(tokens []int, cache *KVCache) ([]float32, error) {
	if err := p.check(tokens, cache); err != nil {
		return nil, err
	}
	base := cache.Len(0)
	v := p.G.M.Config.VocabSize
	out := make([]float32, 0, len(tokens)*v)
	nc := (len(tokens) + p.Chunk - 1) / p.Chunk
	for c := 0; c < nc; c++ {
		x, err := p.G.Chunk(p.padded(tokens, c), cache)
		if err != nil {
			return nil, err
		}
		n := min(p.Chunk, len(tokens)-c*p.Chunk)
		sel := make([]int, n)
		for r := range sel {
			sel[r] = r
		}
		out = append(out, p.G.Logits(x, sel)...)
	}
	cache.SetLen(base + len(tokens))
	return out, nil
}

// Generator runs the deployed pair on one prompt: NPU-emulated chunked
// prefill, hand-off of the KV cache at the real prompt length, CPU
// decoding (spec §1.6–§1.8).
type Generator struct {
	Prefill *Prefill
	Decoder *Decoder
	// Limit is the KV cache capacity in positions (--limits): the padded
	// prefill and every decoded token must fit.
	Limit   int
	Stop    []int // token ids that end the answer (<|im_end|>, <|endoftext|>)
	Sampler *Sampler
}

// GenStats reports one generation.
type GenStats struct {
	PromptTokens int
	Generated    int
	Prefill      time.Duration
	Decode       time.Duration
	// Stopped says a stop token ended the answer (rather than the limit).
	Stopped bool
}

// PrefillRate and DecodeRate are tokens per second.
func (s GenStats) PrefillRate() float64 { return float64(s.PromptTokens) / s.Prefill.Seconds() }

// DecodeRate is generated tokens per second of decoding (the first token
// comes from the prefill logits; the decoder ran Generated−1 steps, plus
// one when the answer stopped on a stop token).
func (s GenStats) DecodeRate() float64 {
	steps := s.Generated - 1
	if s.Stopped {
		steps++
	}
	return float64(steps) / s.Decode.Seconds()
}

// Generate answers prompt (token ids, chat template applied), calling emit
// for every generated token until a stop token, maxNew tokens, or emit
// returning false. After the prefill the NPU lm_head's mapped pages are
// released (NPUModel.ReleaseLMHead): decoding uses the decoder's lm_head,
// so the two are never resident together.
func (g *Generator) Generate(prompt []int, maxNew int, emit func(id int) bool) (GenStats, error) {
	st := GenStats{PromptTokens: len(prompt)}
	cfg := g.Prefill.G.M.Config
	cache := NewKVCache(cfg.NumLayers, cfg.NumKVHeads, cfg.HeadDim, g.Limit)
	t0 := time.Now()
	logits, err := g.Prefill.Run(prompt, cache)
	st.Prefill = time.Since(t0)
	g.Prefill.G.M.ReleaseLMHead()
	if err != nil {
		return st, err
	}
	t1 := time.Now()
	for st.Generated < maxNew {
		id := g.Sampler.Sample(logits)
		if slices.Contains(g.Stop, id) {
			st.Stopped = true
			break
		}
		st.Generated++
		if !emit(id) || st.Generated == maxNew {
			break
		}
		if cache.Len(0)+1 > cache.Capacity {
			st.Decode = time.Since(t1)
			return st, fmt.Errorf("kv cache full after %d prompt + %d generated tokens: --limits %d is too small", len(prompt), st.Generated, g.Limit)
		}
		if logits, err = g.Decoder.Step(id, cache); err != nil {
			st.Decode = time.Since(t1)
			return st, err
		}
	}
	st.Decode = time.Since(t1)
	return st, nil
}
