package dataset

import "math/bits"

// This file reproduces NumPy's `np.random.default_rng(seed)` (SeedSequence
// → PCG64 → Generator) far enough for Generator.permutation/shuffle, bit
// for bit (NumPy ≥ 1.17; goldens from NumPy 1.24 in
// testdata/dataset/permutation_goldens.json).

// SeedSequence constants (numpy/random/bit_generator.pyx).
const (
	ssInitA    = 0x43b0d7e5
	ssMultA    = 0x931e8875
	ssInitB    = 0x8b51f9dd
	ssMultB    = 0x58f38ded
	ssMixMultL = 0xca01f9dd
	ssMixMultR = 0x4973f715
	ssXShift   = 16
	ssPoolSize = 4
)

// seedSequenceState returns SeedSequence(seed).generate_state(4, uint64):
// the seed is split into little-endian 32-bit words (at least one), mixed
// into a pool of four words, and expanded.
func seedSequenceState(seed uint64) [4]uint64 {
	entropy := []uint32{uint32(seed)}
	if seed>>32 != 0 {
		entropy = append(entropy, uint32(seed>>32))
	}
	hashConst := uint32(ssInitA)
	hashmix := func(v uint32) uint32 {
		v ^= hashConst
		hashConst *= ssMultA
		v *= hashConst
		v ^= v >> ssXShift
		return v
	}
	mix := func(x, y uint32) uint32 {
		r := ssMixMultL*x - ssMixMultR*y
		r ^= r >> ssXShift
		return r
	}
	var pool [ssPoolSize]uint32
	for i := range pool {
		if i < len(entropy) {
			pool[i] = hashmix(entropy[i])
		} else {
			pool[i] = hashmix(0)
		}
	}
	for src := range pool {
		for dst := range pool {
			if src != dst {
				pool[dst] = mix(pool[dst], hashmix(pool[src]))
			}
		}
	}
	for src := ssPoolSize; src < len(entropy); src++ {
		for dst := range pool {
			pool[dst] = mix(pool[dst], hashmix(entropy[src]))
		}
	}
	// generate_state(8 uint32 words) viewed as 4 little-endian uint64.
	hc := uint32(ssInitB)
	var words [8]uint32
	for i := range words {
		v := pool[i%ssPoolSize]
		v ^= hc
		hc *= ssMultB
		v *= hc
		v ^= v >> ssXShift
		words[i] = v
	}
	var out [4]uint64
	for i := range out {
		out[i] = uint64(words[2*i]) | uint64(words[2*i+1])<<32
	}
	return out
}

// PCG64 is NumPy's PCG64 bit generator (128-bit LCG, XSL-RR output), with
// its buffered 32-bit output.
type PCG64 struct {
	hi, lo       uint64 // state
	incHi, incLo uint64
	hasUint32    bool
	uinteger     uint32
}

// PCG multiplier 0x2360ED051FC65DA44385DF649FCCF645.
const (
	pcgMulHi = 0x2360ED051FC65DA4
	pcgMulLo = 0x4385DF649FCCF645
)

// NewPCG64 seeds a PCG64 as `np.random.PCG64(seed)` does (through
// SeedSequence(seed)).
func NewPCG64(seed uint64) *PCG64 {
	v := seedSequenceState(seed)
	// pcg64_set_seed(seed = v[0:2], inc = v[2:4]); each 128-bit value is
	// (high = v[k], low = v[k+1]).
	p := &PCG64{}
	initHi, initLo := v[0], v[1]
	seqHi, seqLo := v[2], v[3]
	// inc = (initseq << 1) | 1
	p.incHi = seqHi<<1 | seqLo>>63
	p.incLo = seqLo<<1 | 1
	p.step()
	var c uint64
	p.lo, c = bits.Add64(p.lo, initLo, 0)
	p.hi, _ = bits.Add64(p.hi, initHi, c)
	p.step()
	return p
}

// step advances the 128-bit LCG: state = state*mul + inc.
func (p *PCG64) step() {
	hi, lo := bits.Mul64(p.lo, pcgMulLo)
	hi += p.hi*pcgMulLo + p.lo*pcgMulHi
	var c uint64
	p.lo, c = bits.Add64(lo, p.incLo, 0)
	p.hi, _ = bits.Add64(hi, p.incHi, c)
}

// Uint64 returns the next 64-bit output (random_raw).
func (p *PCG64) Uint64() uint64 {
	p.step()
	return bits.RotateLeft64(p.hi^p.lo, -int(p.hi>>58))
}

// Uint32 returns the next 32-bit output: the low half of a fresh 64-bit
// output, then its high half on the following call.
func (p *PCG64) Uint32() uint32 {
	if p.hasUint32 {
		p.hasUint32 = false
		return p.uinteger
	}
	n := p.Uint64()
	p.hasUint32 = true
	p.uinteger = uint32(n >> 32)
	return uint32(n)
}

// interval returns a uniform value in [0, max] by masked rejection
// sampling, as NumPy's random_interval does.
func (p *PCG64) interval(max uint64) uint64 {
	if max == 0 {
		return 0
	}
	mask := max
	mask |= mask >> 1
	mask |= mask >> 2
	mask |= mask >> 4
	mask |= mask >> 8
	mask |= mask >> 16
	mask |= mask >> 32
	if max <= 0xffffffff {
		for {
			if v := uint64(p.Uint32()) & mask; v <= max {
				return v
			}
		}
	}
	for {
		if v := p.Uint64() & mask; v <= max {
			return v
		}
	}
}

// Permutation returns `np.random.default_rng(seed).permutation(n)`, the
// order HF datasets' `shuffle(seed=seed)` visits rows in.
func Permutation(seed uint64, n int) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	p := NewPCG64(seed)
	for i := n - 1; i >= 1; i-- {
		j := int(p.interval(uint64(i)))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm
}
