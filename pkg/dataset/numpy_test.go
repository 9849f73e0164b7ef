package dataset

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"testing"
)

type permGoldens struct {
	NumPy        string `json:"numpy"`
	Permutations []struct {
		Seed     string `json:"seed"`
		N        int    `json:"n"`
		Full     []int  `json:"full"`
		Head     []int  `json:"head"`
		Tail     []int  `json:"tail"`
		Checksum string `json:"sum_sq_index"`
	} `json:"permutations"`
	Raw []struct {
		Seed   string   `json:"seed"`
		Uint64 []string `json:"uint64"`
	} `json:"pcg64_raw"`
}

func loadPermGoldens(t *testing.T) permGoldens {
	t.Helper()
	b, err := os.ReadFile("../../testdata/dataset/permutation_goldens.json")
	if err != nil {
		t.Fatal(err)
	}
	var g permGoldens
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestPCG64Raw(t *testing.T) {
	g := loadPermGoldens(t)
	if len(g.Raw) == 0 {
		t.Fatal("no raw goldens")
	}
	for _, r := range g.Raw {
		seed, _ := strconv.ParseUint(r.Seed, 10, 64)
		p := NewPCG64(seed)
		for i, s := range r.Uint64 {
			want, _ := strconv.ParseUint(s, 10, 64)
			if got := p.Uint64(); got != want {
				t.Fatalf("seed %d output %d: got %d, want %d", seed, i, got, want)
			}
		}
	}
}

// checksum is the script's sum((p² mod M)·i mod M) over the permutation.
func checksum(p []int) string {
	const m = 1000003
	var s int64
	for i, v := range p {
		s += int64(v) * int64(v) % m * int64(i) % m
	}
	return strconv.FormatInt(s, 10)
}

func TestPermutationGoldens(t *testing.T) {
	g := loadPermGoldens(t)
	if len(g.Permutations) < 9 {
		t.Fatalf("only %d permutation goldens", len(g.Permutations))
	}
	for _, c := range g.Permutations {
		seed, err := strconv.ParseUint(c.Seed, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		p := Permutation(seed, c.N)
		switch {
		case c.Full != nil:
			if !slices.Equal(p, c.Full) {
				t.Errorf("seed %d n %d: got %v, want %v", seed, c.N, p, c.Full)
			}
		default:
			if !slices.Equal(p[:len(c.Head)], c.Head) || !slices.Equal(p[c.N-len(c.Tail):], c.Tail) {
				t.Errorf("seed %d n %d: head %v tail %v, want %v %v", seed, c.N, p[:len(c.Head)], p[c.N-len(c.Tail):], c.Head, c.Tail)
			}
			if cs := checksum(p); cs != c.Checksum {
				t.Errorf("seed %d n %d: checksum %s, want %s", seed, c.N, cs, c.Checksum)
			}
		}
	}
	// The values quoted in the toolchain spec §2.4.
	spec := []struct {
		n    int
		head []int
	}{
		{10, []int{5, 6, 0, 7, 3, 2, 4, 9}},
		{1000, []int{978, 933, 859, 916, 127, 608, 856, 260}},
		{214670, []int{148233, 143250, 54461, 160944, 92300, 213774, 21150, 120635}},
	}
	for _, s := range spec {
		if p := Permutation(42, s.n); !slices.Equal(p[:len(s.head)], s.head) {
			t.Errorf("n %d: head %v, want %v", s.n, p[:len(s.head)], s.head)
		}
	}
}
