package calib

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"
)

// Direction selects what a statistic describes: a Linear's input or its
// (bias-free) output.
type Direction int

// The two recorded directions, in all_stat order.
const (
	Input  Direction = 0
	Output Direction = 1
)

// String names the direction as the scale JSON does.
func (d Direction) String() string {
	if d == Input {
		return "input"
	}
	return "output"
}

// TopIndex is get_distribution's percentile index for N values:
// k = int(N·(1−0.001)) − 1 with a float64 multiply truncated toward zero
// (spec §2.5). It is −1 for N = 1 (Python then indexes the maximum).
func TopIndex(n int64) int64 {
	one, th := 1.0, 0.001 // evaluated at run time, as Python does: 1-0.001 in float64
	return int64(float64(n)*(one-th)) - 1
}

// maxBucketAdds bounds the values per accumulator so the int64 exponent
// buckets of the exact sum cannot overflow (2^63 / 2^24).
const maxBucketAdds = int64(1) << 39

// accum holds the exact statistics of one layer and direction.
type accum struct {
	n     int64 // planned number of values over the whole run
	added int64 // values added so far (in this Stats)
	keep  int   // how many of the largest values determine top_0_1: N − index

	keys keyStore // candidates (order keys); after compact: the largest ≤ keep
	full bool     // keys holds exactly keep values and thr is their minimum
	thr  uint32
	init bool // keys is initialized

	nan, posInf, negInf int64
	sum                 [255]int64     // Σ signed mantissa per exponent field
	sq                  [255][2]uint64 // Σ mantissa² per exponent field (128-bit: hi, lo)
}

// Stats records the statistics of every hooked layer and direction with
// memory bounded by the number of values that can still be among the
// largest 0.1 % (plus exponent-bucketed exact sums). It is not safe for
// concurrent use.
type Stats struct {
	layers []string
	index  map[string]int
	absmax bool
	acc    [][2]*accum
}

// NewStats prepares statistics for layers (in all_stat order). n gives, per
// layer, the total number of values the whole run will record for
// [input, output] (tokens × width summed over every sample, including those
// of other shards); it determines the percentile index. With absmax, ori
// and top_0_1 are taken over absolute values (mean and std stay signed).
func NewStats(layers []string, n map[string][2]int64, absmax bool) (*Stats, error) {
	s := &Stats{layers: append([]string(nil), layers...), index: map[string]int{}, absmax: absmax}
	for i, l := range layers {
		if _, dup := s.index[l]; dup {
			return nil, fmt.Errorf("calib: layer %q listed twice", l)
		}
		s.index[l] = i
		nn, ok := n[l]
		if !ok {
			return nil, fmt.Errorf("calib: no value count for layer %q", l)
		}
		var pair [2]*accum
		for d := range pair {
			a, err := newAccum(nn[d])
			if err != nil {
				return nil, fmt.Errorf("calib: layer %q %s: %w", l, Direction(d), err)
			}
			pair[d] = a
		}
		s.acc = append(s.acc, pair)
	}
	if len(n) != len(layers) {
		for l := range n {
			if _, ok := s.index[l]; !ok {
				return nil, fmt.Errorf("calib: value count given for unknown layer %q", l)
			}
		}
	}
	return s, nil
}

func newAccum(n int64) (*accum, error) {
	if n < 1 {
		return nil, fmt.Errorf("planned value count %d must be positive", n)
	}
	if n >= maxBucketAdds {
		return nil, fmt.Errorf("planned value count %d exceeds the supported %d", n, maxBucketAdds)
	}
	idx := TopIndex(n)
	if idx < 0 {
		idx += n // Python negative index
	}
	return &accum{n: n, keep: int(n - idx)}, nil
}

// Layers returns the layer names in all_stat order.
func (s *Stats) Layers() []string { return append([]string(nil), s.layers...) }

// AbsMax reports whether ori/top_0_1 are taken over absolute values.
func (s *Stats) AbsMax() bool { return s.absmax }

// Planned returns the planned value count of a layer and direction.
func (s *Stats) Planned(layer string, d Direction) (int64, bool) {
	i, ok := s.index[layer]
	if !ok {
		return 0, false
	}
	return s.acc[i][d].n, true
}

// Added returns how many values have been added for a layer and direction.
func (s *Stats) Added(layer string, d Direction) (int64, bool) {
	i, ok := s.index[layer]
	if !ok {
		return 0, false
	}
	return s.acc[i][d].added, true
}

// Add records values (in call order; the order does not change the result).
func (s *Stats) Add(layer string, d Direction, values []float32) error {
	i, ok := s.index[layer]
	if !ok {
		return fmt.Errorf("calib: unknown layer %q", layer)
	}
	if d != Input && d != Output {
		return fmt.Errorf("calib: layer %q: bad direction %d", layer, d)
	}
	a := s.acc[i][d]
	if a.added+int64(len(values)) > a.n {
		return fmt.Errorf("calib: layer %q %s: %d values exceed the planned %d", layer, d, a.added+int64(len(values)), a.n)
	}
	a.add(values, s.absmax)
	return nil
}

// orderKey maps a float32 to a uint32 whose unsigned order is NumPy's sort
// order: −Inf < … < −0 = +0 < … < +Inf < NaN (every NaN is one key).
func orderKey(b uint32) uint32 {
	if b&0x7fffffff > 0x7f800000 {
		return 0xffffffff
	}
	if b == 0x80000000 {
		b = 0 // −0 sorts equal to +0; keep one spelling
	}
	if b&0x80000000 != 0 {
		return ^b
	}
	return b | 0x80000000
}

// keyValue inverts orderKey.
func keyValue(k uint32) float32 {
	if k == 0xffffffff {
		return float32(math.NaN())
	}
	if k&0x80000000 != 0 {
		return math.Float32frombits(k &^ 0x80000000)
	}
	return math.Float32frombits(^k)
}

func (a *accum) add(values []float32, absmax bool) {
	a.added += int64(len(values))
	a.initKeys()
	// m² < 2^48, so a uint64 bucket takes 2^16 squares before it must be
	// folded into the 128-bit total.
	const block = 1 << 16
	var sq [255]uint64
	full, thr := a.full, a.thr
	for len(values) > 0 {
		chunk := values[:min(len(values), block)]
		values = values[len(chunk):]
		for _, v := range chunk {
			b := math.Float32bits(v)
			e := (b >> 23) & 0xff
			if e == 0xff {
				switch {
				case b&0x7fffff != 0:
					a.nan++
				case b&0x80000000 != 0:
					a.negInf++
				default:
					a.posInf++
				}
			} else {
				m := uint64(b & 0x7fffff)
				if e != 0 {
					m |= 0x800000
				}
				sq[e] += m * m
				// branch-free signed add: neg is 0 or −1
				neg := int64(int32(b) >> 31)
				a.sum[e] += (int64(m) ^ neg) - neg
			}
			if absmax {
				b &^= 0x80000000
			}
			k := orderKey(b)
			if full && k <= thr {
				continue
			}
			a.keys.buf = append(a.keys.buf, k)
			if len(a.keys.buf) == cap(a.keys.buf) {
				a.compact()
				full, thr = a.full, a.thr
			}
		}
		for e, x := range sq {
			if x != 0 {
				var c uint64
				a.sq[e][1], c = bits.Add64(a.sq[e][1], x, 0)
				a.sq[e][0] += c
				sq[e] = 0
			}
		}
	}
}

// room is the number of new candidates buffered between two merges into
// the compressed kept set: keep/32 (at least 1024) costs an eighth of a byte per
// kept key and keeps the merges rare.
func (a *accum) room() int {
	return max(a.keep/32, 1024)
}

func (a *accum) initKeys() {
	if !a.init {
		a.keys.init(a, a.keep, a.room())
		a.init = true
	}
}

// push adds one candidate key outside the hot loop of add (merges, and
// keys read from a statistics file).
func (a *accum) push(k uint32) {
	if a.full && k <= a.thr {
		return
	}
	a.keys.buf = append(a.keys.buf, k)
	if len(a.keys.buf) == cap(a.keys.buf) {
		a.compact()
	}
}

// compact keeps only the largest keep candidates.
func (a *accum) compact() {
	a.initKeys()
	n, least := a.keys.compact(a.keep)
	if n == a.keep {
		a.full, a.thr = true, least
	}
}

// Merge adds the statistics of other (for example another shard of the same
// sample plan) into s. Both must describe the same layers, planned counts
// and mode; the result is the same as if s had seen every value itself.
func (s *Stats) Merge(other *Stats) error {
	if s.absmax != other.absmax {
		return fmt.Errorf("calib: merge: absmax differs (%v vs %v)", s.absmax, other.absmax)
	}
	if !slices.Equal(s.layers, other.layers) {
		return fmt.Errorf("calib: merge: the layer lists differ")
	}
	for i, l := range s.layers {
		for d := range 2 {
			a, b := s.acc[i][d], other.acc[i][d]
			if a.n != b.n {
				return fmt.Errorf("calib: merge: layer %q %s: planned counts differ (%d vs %d)", l, Direction(d), a.n, b.n)
			}
			if a.added+b.added > a.n {
				return fmt.Errorf("calib: merge: layer %q %s: %d values exceed the planned %d (overlapping shards?)", l, Direction(d), a.added+b.added, a.n)
			}
		}
	}
	for i := range s.layers {
		for d := range 2 {
			s.acc[i][d].merge(other.acc[i][d])
		}
	}
	return nil
}

func (a *accum) merge(b *accum) {
	a.added += b.added
	a.nan += b.nan
	a.posInf += b.posInf
	a.negInf += b.negInf
	for e := range a.sum {
		a.sum[e] += b.sum[e]
		var c uint64
		a.sq[e][1], c = bits.Add64(a.sq[e][1], b.sq[e][1], 0)
		a.sq[e][0] += b.sq[e][0] + c
	}
	a.initKeys()
	b.compact()
	b.keys.forEach(func(ks []uint32) {
		for _, k := range ks {
			a.push(k)
		}
	})
}

// Complete reports whether every planned value has been added.
func (s *Stats) Complete() bool {
	for _, p := range s.acc {
		if p[0].added != p[0].n || p[1].added != p[1].n {
			return false
		}
	}
	return true
}

// Result computes the scale file. Every planned value must have been added.
func (s *Stats) Result() (*ScaleFile, error) {
	sf := NewScaleFile()
	for i, l := range s.layers {
		var ori, top [2]float64
		var st [2]Stat
		for d := range 2 {
			a := s.acc[i][d]
			if a.added != a.n {
				return nil, fmt.Errorf("calib: layer %q %s: %d values recorded, %d planned", l, Direction(d), a.added, a.n)
			}
			a.compact()
			if a.keys.n != a.keep || !a.full {
				return nil, fmt.Errorf("calib: layer %q %s: internal error: %d candidates, want %d", l, Direction(d), a.keys.n, a.keep)
			}
			ori[d] = float64(keyValue(a.keys.max()))
			top[d] = float64(keyValue(a.thr))
			st[d] = a.meanStd()
		}
		sf.Layers = append(sf.Layers, l)
		sf.Ori[l] = Range{ori[0], ori[1]}
		sf.Top01[l] = Range{top[0], top[1]}
		sf.AllStat[l] = st
	}
	return sf, nil
}

// meanStd computes mean and population std (ddof = 0) from the exact sums,
// each rounded once to float32.
func (a *accum) meanStd() Stat {
	nan := math.NaN()
	switch {
	case a.nan > 0 || (a.posInf > 0 && a.negInf > 0):
		return Stat{nan, nan}
	case a.posInf > 0:
		return Stat{math.Inf(1), nan}
	case a.negInf > 0:
		return Stat{math.Inf(-1), nan}
	}
	// S = Σ sum[e]·2^(e'−150), Q = Σ sq[e]·2^(2(e'−150)), e' = max(e, 1).
	// Scale both to integers: S·2^149, Q·2^298.
	S, Q := new(big.Int), new(big.Int)
	t := new(big.Int)
	for e := range a.sum {
		ee := max(e, 1)
		if a.sum[e] != 0 {
			t.SetInt64(a.sum[e])
			t.Lsh(t, uint(ee-1))
			S.Add(S, t)
		}
		if a.sq[e][0] != 0 || a.sq[e][1] != 0 {
			t.SetUint64(a.sq[e][0])
			t.Lsh(t, 64)
			t.Or(t, new(big.Int).SetUint64(a.sq[e][1]))
			t.Lsh(t, uint(2*(ee-1)))
			Q.Add(Q, t)
		}
	}
	N := big.NewInt(a.n)
	// mean = S / (N·2^149)
	den := new(big.Int).Lsh(N, 149)
	mean, _ := new(big.Rat).SetFrac(S, den).Float32()
	// var = (Q·N − S²) / (N²·2^298)
	num := new(big.Int).Mul(Q, N)
	num.Sub(num, new(big.Int).Mul(S, S))
	if num.Sign() < 0 {
		num.SetInt64(0) // impossible with exact sums; guard anyway
	}
	vden := new(big.Int).Mul(N, N)
	vden.Lsh(vden, 298)
	const prec = 256
	v := new(big.Float).SetPrec(prec).Quo(new(big.Float).SetPrec(prec).SetInt(num), new(big.Float).SetPrec(prec).SetInt(vden))
	sd, _ := new(big.Float).SetPrec(prec).Sqrt(v).Float32()
	return Stat{Mean: float64(mean), Std: float64(sd)}
}
