package runtime

import "fmt"

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
