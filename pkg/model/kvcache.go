package model

import "fmt"

// KVCache holds the rotated keys and the values of every layer for up to
// Cap() positions, in float32. Layer i's keys are stored head-major as
// [kv_heads][capacity][head_dim] (likewise the values), so the first n
// positions of one kv head are contiguous.
//
// Each layer keeps its own length: LayerForward(i) appends to layer i
// only, so a caller may run layers one at a time. Len is the number of
// positions every layer holds.
type KVCache struct {
	kvHeads, headDim, capacity int
	k, v                       [][]float32
	lens                       []int
}

// NewKVCache allocates an empty cache for cfg with room for capacity
// positions.
func NewKVCache(cfg *Config, capacity int) *KVCache {
	if capacity < 0 {
		panic(fmt.Sprintf("model.NewKVCache: negative capacity %d", capacity))
	}
	c := &KVCache{
		kvHeads: cfg.NumKVHeads, headDim: cfg.HeadDim, capacity: capacity,
		k: make([][]float32, cfg.NumLayers), v: make([][]float32, cfg.NumLayers),
		lens: make([]int, cfg.NumLayers),
	}
	n := cfg.NumKVHeads * capacity * cfg.HeadDim
	for i := range c.k {
		c.k[i] = make([]float32, n)
		c.v[i] = make([]float32, n)
	}
	return c
}

// Len is the number of positions held by every layer (the position of the
// next token a full Forward would process).
func (c *KVCache) Len() int {
	if len(c.lens) == 0 {
		return 0
	}
	m := c.lens[0]
	for _, n := range c.lens[1:] {
		m = min(m, n)
	}
	return m
}

// LayerLen is the number of positions layer i holds.
func (c *KVCache) LayerLen(i int) int { return c.lens[i] }

// Cap is the capacity in positions.
func (c *KVCache) Cap() int { return c.capacity }

// Truncate drops every position ≥ n in every layer (n ≥ Len() only shortens
// layers that are longer than n). It panics on a negative n.
func (c *KVCache) Truncate(n int) {
	if n < 0 {
		panic(fmt.Sprintf("model.KVCache.Truncate(%d)", n))
	}
	for i := range c.lens {
		c.lens[i] = min(c.lens[i], n)
	}
}

// K returns layer i's key storage, [kv_heads][Cap()][head_dim]; positions
// ≥ LayerLen(i) hold stale data.
func (c *KVCache) K(i int) []float32 { return c.k[i] }

// V returns layer i's value storage, laid out like K.
func (c *KVCache) V(i int) []float32 { return c.v[i] }

// Append stores rows positions of layer i's keys and values (k and v are
// [rows][kv_heads·head_dim], keys already rotated) at positions
// LayerLen(i).. and advances LayerLen(i). It fails when the capacity would
// be exceeded.
func (c *KVCache) Append(i int, k, v []float32, rows int) error {
	if i < 0 || i >= len(c.lens) {
		return fmt.Errorf("kv cache: layer %d out of range [0,%d)", i, len(c.lens))
	}
	p0 := c.lens[i]
	if p0+rows > c.capacity {
		return fmt.Errorf("kv cache: layer %d holds %d positions, %d more exceed the capacity %d", i, p0, rows, c.capacity)
	}
	hd, kvd := c.headDim, c.kvHeads*c.headDim
	if len(k) < rows*kvd || len(v) < rows*kvd {
		return fmt.Errorf("kv cache: layer %d: %d rows need %d key/value elements, have %d/%d", i, rows, rows*kvd, len(k), len(v))
	}
	for r := 0; r < rows; r++ {
		for h := 0; h < c.kvHeads; h++ {
			dst := (h*c.capacity + p0 + r) * hd
			src := r*kvd + h*hd
			copy(c.k[i][dst:dst+hd], k[src:src+hd])
			copy(c.v[i][dst:dst+hd], v[src:src+hd])
		}
	}
	c.lens[i] = p0 + rows
	return nil
}

// check reports whether the cache was made for a model shaped like cfg.
func (c *KVCache) check(cfg *Config) error {
	if len(c.lens) != cfg.NumLayers || c.kvHeads != cfg.NumKVHeads || c.headDim != cfg.HeadDim {
		return fmt.Errorf("kv cache shape (%d layers, %d kv heads × %d) does not match the model (%d, %d × %d)",
			len(c.lens), c.kvHeads, c.headDim, cfg.NumLayers, cfg.NumKVHeads, cfg.HeadDim)
	}
	return nil
}
