package calib

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// TV8: the percentile index table of spec §2.5.
func TestTopIndexTV8(t *testing.T) {
	table := []struct{ n, k int64 }{
		{1, -1}, {2, 0}, {3, 1}, {999, 997}, {1000, 998}, {1001, 998}, {2048, 2044},
		{10000, 9989}, {12345, 12331}, {153600, 153445}, {3000001, 2996999},
		{5, 3}, {10, 8},
	}
	for _, c := range table {
		if got := TopIndex(c.n); got != c.k {
			t.Errorf("TopIndex(%d) = %d, want %d", c.n, got, c.k)
		}
	}
}

// TV8 with the §2.6 data: input N=10 → k=8 → 2.0; output N=5 → k=3 → 2.0.
// ori = 7.5 and 100. mean/std are the exact values rounded to float32 (NumPy's
// float32 pairwise sums give 0.8049999475479126 and 39.84143829345703 here).
func TestSpecExampleStats(t *testing.T) {
	l := "model.layers.0.mlp.down_proj"
	s, err := NewStats([]string{l}, map[string][2]int64{l: {10, 5}}, false)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Add(l, Input, []float32{0.5, -3, 1.25, 2}))
	must(s.Add(l, Output, []float32{1, 2}))
	must(s.Add(l, Input, []float32{0.1, 0.2, -0.3, 0.4, 7.5, -0.6}))
	must(s.Add(l, Output, []float32{-1.5, 0.25, 100}))
	r, err := s.Result()
	must(err)
	if r.Ori[l] != (Range{7.5, 100}) || r.Top01[l] != (Range{2, 2}) {
		t.Fatalf("ori %+v top %+v", r.Ori[l], r.Top01[l])
	}
	want := [2]Stat{{0.8050000071525574, 2.5542562007904053}, {20.350000381469727, 39.841434478759766}}
	if r.AllStat[l] != want {
		t.Fatalf("all_stat %+v, want %+v", r.AllStat[l], want)
	}
}

// reference: sort everything (NumPy semantics) and compute exact mean/std.
func reference(vals []float32, absmax bool) (ori, top float64, st Stat) {
	keys := make([]uint32, len(vals))
	for i, v := range vals {
		b := math.Float32bits(v)
		if absmax {
			b &^= 0x80000000
		}
		keys[i] = orderKey(b)
	}
	slices.Sort(keys)
	n := int64(len(vals))
	k := TopIndex(n)
	if k < 0 {
		k += n
	}
	ori = float64(keyValue(keys[n-1]))
	top = float64(keyValue(keys[k]))
	if n > 5000 { // exact rationals are too slow here: float64 two-pass
		var m, q float64
		for _, v := range vals {
			m += float64(v)
		}
		m /= float64(n)
		for _, v := range vals {
			q += (float64(v) - m) * (float64(v) - m)
		}
		return ori, top, Stat{m, math.Sqrt(q / float64(n))}
	}
	sum := new(big.Rat)
	for _, v := range vals {
		sum.Add(sum, new(big.Rat).SetFloat64(float64(v)))
	}
	mean := new(big.Rat).Quo(sum, new(big.Rat).SetInt64(n))
	ss := new(big.Rat)
	for _, v := range vals {
		d := new(big.Rat).Sub(new(big.Rat).SetFloat64(float64(v)), mean)
		ss.Add(ss, d.Mul(d, d))
	}
	ss.Quo(ss, new(big.Rat).SetInt64(n))
	m32, _ := mean.Float32()
	vf := new(big.Float).SetPrec(256).SetRat(ss)
	sd, _ := vf.Sqrt(vf).Float32()
	return ori, top, Stat{float64(m32), float64(sd)}
}

func close(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))+1e-30
}

func genValues(rng *rand.Rand, n int, kind string) []float32 {
	v := make([]float32, n)
	for i := range v {
		switch kind {
		case "normal":
			v[i] = float32(rng.NormFloat64())
		case "heavy":
			v[i] = float32(rng.NormFloat64() * math.Exp(3*rng.NormFloat64()))
		case "ties":
			v[i] = float32(rng.IntN(7) - 3)
		case "tiny":
			v[i] = math.Float32frombits(rng.Uint32N(64)) // subnormals, −0 patterns excluded
			if rng.IntN(2) == 0 {
				v[i] = -v[i]
			}
		case "sorted":
			v[i] = float32(i)
		case "reversed":
			v[i] = float32(n - i)
		}
	}
	return v
}

// Order statistics and moments equal a full sort over the concatenation,
// for any chunking, sizes around the index boundaries, and absmax.
func TestStatsMatchFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 2, 3, 7, 999, 1000, 1001, 2048, 5000, 40000, 153600}
	kinds := []string{"normal", "heavy", "ties", "tiny", "sorted", "reversed"}
	for _, n := range sizes {
		for _, kind := range kinds {
			for _, absmax := range []bool{false, true} {
				name := fmt.Sprintf("n=%d/%s/abs=%v", n, kind, absmax)
				vals := genValues(rng, n, kind)
				s, err := NewStats([]string{"L"}, map[string][2]int64{"L": {int64(n), 1}}, absmax)
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < n; {
					c := min(n-i, 1+rng.IntN(3000))
					if err := s.Add("L", Input, vals[i:i+c]); err != nil {
						t.Fatal(err)
					}
					i += c
				}
				if err := s.Add("L", Output, []float32{3}); err != nil {
					t.Fatal(err)
				}
				r, err := s.Result()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				ori, top, st := reference(vals, absmax)
				got := r.Ori["L"].Input
				gtop := r.Top01["L"].Input
				if math.Float64bits(got) != math.Float64bits(ori) || math.Float64bits(gtop) != math.Float64bits(top) {
					t.Errorf("%s: ori/top = %v/%v, want %v/%v", name, got, gtop, ori, top)
				}
				if got := r.AllStat["L"][0]; n <= 5000 && got != st {
					t.Errorf("%s: stat %+v, want %+v", name, got, st)
				} else if n > 5000 && !(close(got.Mean, st.Mean, 1e-6) && close(got.Std, st.Std, 1e-6)) {
					t.Errorf("%s: stat %+v, want about %+v", name, got, st)
				}
			}
		}
	}
}

func TestStatsNonFinite(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	cases := []struct {
		name     string
		vals     []float32
		ori, top string
		mean     string
	}{
		{"nan is largest", []float32{1, nan, 2}, "NaN", "2.0", "NaN"},
		{"inf", []float32{1, inf, 2}, "Infinity", "2.0", "Infinity"},
		{"-inf", []float32{-inf, 1, 2}, "2.0", "1.0", "-Infinity"},
		{"both infs", []float32{-inf, inf}, "Infinity", "-Infinity", "NaN"},
	}
	for _, c := range cases {
		n := int64(len(c.vals))
		s, _ := NewStats([]string{"L"}, map[string][2]int64{"L": {n, n}}, false)
		s.Add("L", Input, c.vals)
		s.Add("L", Output, c.vals)
		r, err := s.Result()
		if err != nil {
			t.Fatal(err)
		}
		if g := FormatFloat(r.Ori["L"].Input); g != c.ori {
			t.Errorf("%s: ori %s want %s", c.name, g, c.ori)
		}
		if g := FormatFloat(r.Top01["L"].Input); g != c.top {
			t.Errorf("%s: top %s want %s", c.name, g, c.top)
		}
		if g := FormatFloat(r.AllStat["L"][0].Mean); g != c.mean {
			t.Errorf("%s: mean %s want %s", c.name, g, c.mean)
		}
	}
}

func TestStatsPlanChecks(t *testing.T) {
	if _, err := NewStats([]string{"a"}, map[string][2]int64{}, false); err == nil {
		t.Error("missing count accepted")
	}
	if _, err := NewStats([]string{"a", "a"}, map[string][2]int64{"a": {1, 1}}, false); err == nil {
		t.Error("duplicate layer accepted")
	}
	if _, err := NewStats([]string{"a"}, map[string][2]int64{"a": {0, 1}}, false); err == nil {
		t.Error("zero count accepted")
	}
	if _, err := NewStats([]string{"a"}, map[string][2]int64{"a": {1, 1}, "b": {1, 1}}, false); err == nil {
		t.Error("unknown layer count accepted")
	}
	s, _ := NewStats([]string{"a"}, map[string][2]int64{"a": {2, 2}}, false)
	if err := s.Add("a", Input, []float32{1, 2, 3}); err == nil {
		t.Error("too many values accepted")
	}
	if err := s.Add("b", Input, []float32{1}); err == nil {
		t.Error("unknown layer accepted")
	}
	s.Add("a", Input, []float32{1, 2})
	if _, err := s.Result(); err == nil {
		t.Error("incomplete result accepted")
	}
}

// Shards planned with the global counts merge into exactly the single-run
// result, in any merge order.
func TestStatsMergeEqualsSingleRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	layers := []string{"x", "y"}
	const n = 60000
	vals := map[string][2][]float32{
		"x": {genValues(rng, n, "heavy"), genValues(rng, n/3, "ties")},
		"y": {genValues(rng, n, "normal"), genValues(rng, 2*n, "heavy")},
	}
	counts := map[string][2]int64{}
	for _, l := range layers {
		counts[l] = [2]int64{int64(len(vals[l][0])), int64(len(vals[l][1]))}
	}
	build := func(from, to float64) *Stats {
		s, err := NewStats(layers, counts, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			for d := range 2 {
				v := vals[l][d]
				a, b := int(from*float64(len(v))), int(to*float64(len(v)))
				if err := s.Add(l, Direction(d), v[a:b]); err != nil {
					t.Fatal(err)
				}
			}
		}
		return s
	}
	single, err := build(0, 1).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, order := range [][]int{{0, 1, 2}, {2, 0, 1}, {1, 2, 0}} {
		cuts := []float64{0, 0.2, 0.9, 1}
		parts := make([]*Stats, 3)
		for i := range parts {
			parts[i] = build(cuts[i], cuts[i+1])
		}
		m := parts[order[0]]
		if _, err := m.Result(); err == nil {
			t.Fatal("a partial shard must not give a result")
		}
		for _, i := range order[1:] {
			if err := m.Merge(parts[i]); err != nil {
				t.Fatal(err)
			}
		}
		got, err := m.Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			if got.Ori[l] != single.Ori[l] || got.Top01[l] != single.Top01[l] || got.AllStat[l] != single.AllStat[l] {
				t.Fatalf("order %v layer %s: merged %+v %+v %+v, single %+v %+v %+v", order, l,
					got.Ori[l], got.Top01[l], got.AllStat[l], single.Ori[l], single.Top01[l], single.AllStat[l])
			}
		}
		if err := m.Merge(parts[0]); err == nil {
			t.Fatal("merging an overlapping shard must fail")
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	v := genValues(rng, 1<<16, "heavy")
	n := int64(b.N) * int64(len(v))
	s, _ := NewStats([]string{"L"}, map[string][2]int64{"L": {n, 1}}, false)
	b.SetBytes(int64(len(v)) * 4)
	b.ResetTimer()
	for range b.N {
		s.Add("L", Input, v)
	}
}

// Large candidate buffers (memory-mapped on unix) hold what is written and
// are released with their owner.
func TestAllocKeysLarge(t *testing.T) {
	for range 3 {
		a := &accum{}
		k := allocKeys(a, mmapMinKeys*2)
		if len(k) != 0 || cap(k) != mmapMinKeys*2 {
			t.Fatalf("len %d cap %d", len(k), cap(k))
		}
		for i := range cap(k) {
			k = append(k, uint32(i*7))
		}
		for i, v := range k {
			if v != uint32(i*7) {
				t.Fatalf("key %d = %d", i, v)
			}
		}
		slices.Sort(k)
		if k[len(k)-10] != uint32((cap(k)-10)*7) {
			t.Fatal("sorting a large buffer is wrong")
		}
		runtime.GC()
	}
}
