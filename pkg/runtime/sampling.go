package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// SamplerOptions configures token selection. Temperature ≤ 0 is greedy
// decoding (mllm's default, do_sample=false).
type SamplerOptions struct {
	Temperature float64 // softmax temperature; ≤ 0: greedy
	TopK        int     // keep the k most likely tokens (≤ 0: all)
	TopP        float64 // keep the smallest set with probability ≥ p (≤ 0 or ≥ 1: all)
	Seed        uint64  // random seed (the same seed gives the same tokens)
}

// Validate checks the option ranges.
func (o SamplerOptions) Validate() error {
	if math.IsNaN(o.Temperature) || math.IsInf(o.Temperature, 0) {
		return fmt.Errorf("--temperature %v must be finite", o.Temperature)
	}
	if o.TopP < 0 || o.TopP > 1 || math.IsNaN(o.TopP) {
		return fmt.Errorf("--top-p %v must be in [0,1]", o.TopP)
	}
	if o.TopK < 0 {
		return fmt.Errorf("--top-k %d must not be negative", o.TopK)
	}
	return nil
}

// Sampler picks the next token from a logits row.
type Sampler struct {
	opt SamplerOptions
	rng *rand.Rand
}

// NewSampler returns a sampler seeded with opt.Seed (PCG).
func NewSampler(opt SamplerOptions) *Sampler {
	return &Sampler{opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, 0x6d6c6c6d))}
}

// Argmax returns the index of the largest logit, the lowest on ties
// (std::max_element, spec §1.7).
func Argmax(x []float32) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}

// Sample returns the next token: greedy when Temperature ≤ 0, else a draw
// from softmax(logits/T) (float64) restricted by top-k then top-p, with
// ties in probability broken by the lower id.
func (s *Sampler) Sample(logits []float32) int {
	o := s.opt
	if o.Temperature <= 0 {
		return Argmax(logits)
	}
	type cand struct {
		id int
		p  float64
	}
	mx := float64(logits[Argmax(logits)])
	c := make([]cand, len(logits))
	var sum float64
	for i, v := range logits {
		p := math.Exp((float64(v) - mx) / o.Temperature)
		c[i] = cand{i, p}
		sum += p
	}
	sort.SliceStable(c, func(a, b int) bool { return c[a].p > c[b].p })
	n := len(c)
	if o.TopK > 0 && o.TopK < n {
		n = o.TopK
	}
	if o.TopP > 0 && o.TopP < 1 {
		var cum float64
		for i := 0; i < n; i++ {
			cum += c[i].p / sum
			if cum >= o.TopP {
				n = i + 1
				break
			}
		}
	}
	var kept float64
	for i := 0; i < n; i++ {
		kept += c[i].p
	}
	r := s.rng.Float64() * kept
	for i := 0; i < n; i++ {
		r -= c[i].p
		if r < 0 {
			return c[i].id
		}
	}
	return c[n-1].id
}
