package calib

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type fixture struct {
	layers []string
	vals   map[string][2][]float32
	counts map[string][2]int64
}

func newFixture() fixture {
	rng := rand.New(rand.NewPCG(7, 8))
	f := fixture{layers: []string{"q", "lm_head"}, vals: map[string][2][]float32{}, counts: map[string][2]int64{}}
	for _, l := range f.layers {
		f.vals[l] = [2][]float32{genValues(rng, 30000, "heavy"), genValues(rng, 45000, "normal")}
		f.counts[l] = [2]int64{30000, 45000}
	}
	return f
}

// add feeds the fraction [from, to) of every layer's values.
func (f fixture) add(t *testing.T, s *Stats, from, to float64) {
	t.Helper()
	for _, l := range f.layers {
		for d := range 2 {
			v := f.vals[l][d]
			if err := s.Add(l, Direction(d), v[int(from*float64(len(v))):int(to*float64(len(v)))]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func jsonOf(t *testing.T, s *Stats) []byte {
	t.Helper()
	r, err := s.Result()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Stopping after part of the samples, saving, loading and continuing gives
// the single run's bytes.
func TestResumeFromCheckpoint(t *testing.T) {
	f := newFixture()
	single, _ := NewStats(f.layers, f.counts, false)
	f.add(t, single, 0, 1)
	want := jsonOf(t, single)

	dir := t.TempDir()
	p := filepath.Join(dir, "run.stats")
	s, _ := NewStats(f.layers, f.counts, false)
	f.add(t, s, 0, 0.37)
	m := Meta{Plan: "plan-A", Total: 10, From: 0, To: 10, Next: 4}
	if err := SaveStats(p, s, m); err != nil {
		t.Fatal(err)
	}
	r, rm, err := LoadStats(p)
	if err != nil {
		t.Fatal(err)
	}
	if rm != m {
		t.Fatalf("meta %+v, want %+v", rm, m)
	}
	f.add(t, r, 0.37, 1)
	if got := jsonOf(t, r); !bytes.Equal(got, want) {
		t.Fatalf("resumed JSON differs:\n%s\nwant\n%s", got, want)
	}
}

func TestStatsFileCorruption(t *testing.T) {
	f := newFixture()
	s, _ := NewStats(f.layers, f.counts, true)
	f.add(t, s, 0, 0.5)
	var b bytes.Buffer
	if err := WriteStats(&b, s, Meta{Plan: "p", Total: 2, To: 2, Next: 1}); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	if r, _, err := ReadStats(bytes.NewReader(good)); err != nil || !r.AbsMax() {
		t.Fatalf("good file: %v", err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)-100], "checksum"},
		{"flipped", func() []byte { c := bytes.Clone(good); c[200] ^= 1; return c }(), "checksum"},
		{"not stats", []byte("hello world, this is not a statistics file at all........"), "not a qnnkit"},
	}
	for _, c := range cases {
		if _, _, err := ReadStats(bytes.NewReader(c.data)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
	if err := WriteStats(&b, s, Meta{Total: 2, From: 1, To: 2, Next: 0}); err == nil {
		t.Error("bad range accepted")
	}
}

// Shard files of one plan merge into the single run's bytes; incomplete,
// overlapping, missing and foreign shards are refused.
func TestMergeStatsFiles(t *testing.T) {
	f := newFixture()
	single, _ := NewStats(f.layers, f.counts, false)
	f.add(t, single, 0, 1)
	want := jsonOf(t, single)

	dir := t.TempDir()
	shard := func(name string, from, to float64, m Meta) string {
		s, _ := NewStats(f.layers, f.counts, false)
		f.add(t, s, from, to)
		p := filepath.Join(dir, name)
		if err := SaveStats(p, s, m); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := shard("a", 0, 0.25, Meta{Plan: "P", Total: 4, From: 0, To: 1, Next: 1})
	b := shard("b", 0.25, 0.75, Meta{Plan: "P", Total: 4, From: 1, To: 3, Next: 3})
	c := shard("c", 0.75, 1, Meta{Plan: "P", Total: 4, From: 3, To: 4, Next: 4})
	s, m, err := MergeStatsFiles([]string{c, a, b})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Complete() || m.Total != 4 {
		t.Fatalf("meta %+v", m)
	}
	if got := jsonOf(t, s); !bytes.Equal(got, want) {
		t.Fatal("merged JSON differs from the single run")
	}
	inc := shard("inc", 0.75, 0.8, Meta{Plan: "P", Total: 4, From: 3, To: 4, Next: 3})
	foreign := shard("foreign", 0.75, 1, Meta{Plan: "Q", Total: 4, From: 3, To: 4, Next: 4})
	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"missing", []string{a, c}, "in no file"},
		{"overlap", []string{a, b, b, c}, "overlaps"},
		{"incomplete", []string{a, b, inc}, "incomplete"},
		{"foreign", []string{a, b, foreign}, "plans differ"},
		{"none", nil, "no statistics"},
	} {
		if _, _, err := MergeStatsFiles(tc.files); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	if _, err := os.Stat(a); err != nil {
		t.Fatal(err)
	}
}
