package rotate

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strings"
)

// hadKOrder is mllm's get_hadK search order (hadamard_utils.py): the first
// K dividing n is taken, and n/K must then be a power of two.
var hadKOrder = []int{172, 156, 140, 108, 60, 52, 36, 28, 40, 20, 12}

// williamson holds the first rows of the circulant blocks A, B, C, D of
// the Williamson-type tables (spec Appendix A).
var williamson = map[int][4]string{
	52: {
		"+-+--++++--+-",
		"+---++++++---",
		"++-+--++--+-+",
		"+----+--+----",
	},
	156: {
		"+++--+-+-----+--++----++--+-----+-+--++",
		"++++---+--++----+-+--+-+----++--+---+++",
		"+++--++-+---+-+--+----+--+-+---+-++--++",
		"+---++-+-+-----+++-++-+++-----+-+-++---",
	},
	172: {
		"+---++--++++-+-+++-++--++-+++-+-++++--++---",
		"++-++++++----+-+--++-++-++--+-+----++++++-+",
		"+++-+-++--+-+-++++-+----+-++++-+-+--++-+-++",
		"++---++++-+--+--++--------++--+--+-++++---+",
	},
}

// BaseTable returns mllm's Hadamard base matrix hadK of order K (one of 12,
// 20, 28, 36, 40, 52, 60, 108, 140, 156, 172) as K×K row-major ±1 entries,
// built from the closed forms of spec Appendix A: Paley I (12, 20, 60, 108,
// 140), Paley II (28, 36), doubling of H20 (40) and Williamson (52, 156,
// 172). It satisfies H·Hᵀ = K·I.
func BaseTable(k int) ([]int8, error) {
	switch k {
	case 12, 20, 60, 108, 140:
		return paley1(k - 1), nil
	case 28, 36:
		return paley2(k/2 - 1), nil
	case 40:
		h20 := paley1(19)
		h := make([]int8, 40*40)
		for i := 0; i < 20; i++ {
			for j := 0; j < 20; j++ {
				v := h20[i*20+j]
				h[i*40+j] = v
				h[i*40+j+20] = v
				h[(i+20)*40+j] = v
				h[(i+20)*40+j+20] = -v
			}
		}
		return h, nil
	case 52, 156, 172:
		return williamsonTable(k), nil
	}
	return nil, fmt.Errorf("no Hadamard base table of order %d (have 12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172)", k)
}

// chi is the quadratic character modulo the prime q.
func chi(q int) []int8 {
	c := make([]int8, q)
	for i := 1; i < q; i++ {
		c[i] = -1
	}
	for x := 1; x < q; x++ {
		c[x*x%q] = 1
	}
	return c
}

// paley1 is H = I + S, S = [[0, -1ᵀ], [1, Q]], Q[i][j] = χ(i-j), q ≡ 3 mod 4.
func paley1(q int) []int8 {
	k := q + 1
	c := chi(q)
	h := make([]int8, k*k)
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			var s int8
			switch {
			case i == 0 && j == 0:
				s = 0
			case i == 0:
				s = -1
			case j == 0:
				s = 1
			default:
				s = c[((i-j)%q+q)%q]
			}
			if i == j {
				s++
			}
			h[i*k+j] = s
		}
	}
	return h
}

// paley2 is [[C+I, C-I], [C-I, -C-I]] with the symmetric conference matrix
// C = [[0, 1ᵀ], [1, Q]], q ≡ 1 mod 4.
func paley2(q int) []int8 {
	m := q + 1
	c := chi(q)
	conf := func(i, j int) int8 {
		switch {
		case i == 0 && j == 0:
			return 0
		case i == 0 || j == 0:
			return 1
		}
		return c[((i-j)%q+q)%q]
	}
	k := 2 * m
	h := make([]int8, k*k)
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			cv := conf(i, j)
			var id int8
			if i == j {
				id = 1
			}
			h[i*k+j] = cv + id
			h[i*k+j+m] = cv - id
			h[(i+m)*k+j] = cv - id
			h[(i+m)*k+j+m] = -cv - id
		}
	}
	return h
}

// williamsonTable is [[A,B,C,D],[-B,A,-D,C],[-C,D,A,-B],[-D,-C,B,A]] with
// circulant blocks circ(r)[i][j] = r[(j-i) mod m].
func williamsonTable(k int) []int8 {
	rows := williamson[k]
	m := k / 4
	var first [4][]int8
	for b, s := range rows {
		first[b] = make([]int8, m)
		for i, ch := range s {
			if ch == '+' {
				first[b][i] = 1
			} else {
				first[b][i] = -1
			}
		}
	}
	// layout[bi][bj] = (block index, sign)
	layout := [4][4][2]int{
		{{0, 1}, {1, 1}, {2, 1}, {3, 1}},
		{{1, -1}, {0, 1}, {3, -1}, {2, 1}},
		{{2, -1}, {3, 1}, {0, 1}, {1, -1}},
		{{3, -1}, {2, -1}, {1, 1}, {0, 1}},
	}
	h := make([]int8, k*k)
	for bi := 0; bi < 4; bi++ {
		for bj := 0; bj < 4; bj++ {
			blk, sg := layout[bi][bj][0], int8(layout[bi][bj][1])
			for i := 0; i < m; i++ {
				for j := 0; j < m; j++ {
					h[(bi*m+i)*k+bj*m+j] = sg * first[blk][((j-i)%m+m)%m]
				}
			}
		}
	}
	return h
}

// HadK returns the base order K and table that mllm's get_hadK picks for a
// Hadamard matrix of size n: the first K in the order 172, 156, 140, 108,
// 60, 52, 36, 28, 40, 20, 12 that divides n (n/K must then be a power of
// two), else K = 1 when n is a power of two (table nil). Other sizes are
// unsupported, as in mllm (an AssertionError there).
func HadK(n int) (int, []int8, error) {
	if n <= 0 {
		return 0, nil, fmt.Errorf("random Hadamard: size %d is not positive", n)
	}
	for _, k := range hadKOrder {
		if n%k != 0 {
			continue
		}
		if q := n / k; q&(q-1) != 0 {
			return 0, nil, fmt.Errorf("random Hadamard: size %d is unsupported: it is divisible by %d (mllm's first match), but %d/%d = %d is not a power of two; supported sizes are K·2^m with K in {1, 12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172}", n, k, n, k, q)
		}
		t, err := BaseTable(k)
		return k, t, err
	}
	if n&(n-1) != 0 {
		return 0, nil, fmt.Errorf("random Hadamard: size %d is unsupported: it is neither a power of two nor K·2^m with K in {12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172}", n)
	}
	return 1, nil, nil
}

// Divisor is mllm's d for size n: float32(√n) widened to float64 (torch
// computes the square root of an integer tensor in float32; quirk Q7, kept).
// Every entry of a random Hadamard matrix is ±(1/d).
func Divisor(n int) float64 {
	return float64(float32(math.Sqrt(float64(float32(n)))))
}

// RandomHadamard draws n random signs s_i = ±1 from rng (one Uint64 per
// sign, in index order; s_i = +1 when its top bit is set, like torch's
// 2·randint(0,2)−1) and returns mllm's random Hadamard matrix
// R = diag(s)·Mᵀ/d as an n×n row-major float64 matrix (see SignedHadamard).
func RandomHadamard(n int, rng *rand.Rand) ([]float64, error) {
	if _, _, err := HadK(n); err != nil {
		return nil, err
	}
	return SignedHadamard(n, drawSigns(n, rng))
}

func drawSigns(n int, rng *rand.Rand) []int8 {
	s := make([]int8, n)
	for i := range s {
		if rng.Uint64()>>63 == 1 {
			s[i] = 1
		} else {
			s[i] = -1
		}
	}
	return s
}

// SignedHadamard returns R[i][j] = s_i·M[j][i]·(1/d) for the given signs
// (±1), where M = kron(hadK, H_{n/K}) with the Sylvester matrix
// H[b][b'] = (-1)^popcount(b&b') and d = Divisor(n) (spec §3.3). Every
// entry is exactly ±(1/d).
func SignedHadamard(n int, signs []int8) ([]float64, error) {
	h, err := newHadamard(n, signs)
	if err != nil {
		return nil, err
	}
	return h.matrix(), nil
}

// hadamard is a random Hadamard matrix in factored form:
// A = diag(s)·Mᵀ·r, with M = kron(had, H_m), n = k·m.
type hadamard struct {
	n, k, m int
	had     []int8 // k×k, nil when k == 1
	s       []int8 // ±1
	r       float64
	// For each row a of had: the column indices of its minority sign and
	// that sign (row·t = S − 2·Σminority when the minority is −, else
	// 2·Σminority − S, with S = Σt).
	minority    [][]int
	minorityNeg []bool
}

func (h *hadamard) prepare() {
	if h.had == nil {
		return
	}
	k := h.k
	h.minority = make([][]int, k)
	h.minorityNeg = make([]bool, k)
	for a := 0; a < k; a++ {
		var pos, neg []int
		for a2, v := range h.had[a*k : (a+1)*k] {
			if v > 0 {
				pos = append(pos, a2)
			} else {
				neg = append(neg, a2)
			}
		}
		if len(neg) <= len(pos) {
			h.minority[a], h.minorityNeg[a] = neg, true
		} else {
			h.minority[a] = pos
		}
	}
}

func newHadamard(n int, signs []int8) (*hadamard, error) {
	k, had, err := HadK(n)
	if err != nil {
		return nil, err
	}
	if len(signs) != n {
		return nil, fmt.Errorf("random Hadamard: %d signs for size %d", len(signs), n)
	}
	for i, s := range signs {
		if s != 1 && s != -1 {
			return nil, fmt.Errorf("random Hadamard: sign %d is %d, want ±1", i, s)
		}
	}
	h := &hadamard{n: n, k: k, m: n / k, had: had, s: signs, r: 1 / Divisor(n)}
	h.prepare()
	return h, nil
}

// mEntry is M[i][j] = had[a_i][a_j]·(-1)^popcount(b_i&b_j).
func (h *hadamard) mEntry(i, j int) int8 {
	ai, bi := i/h.m, i%h.m
	aj, bj := j/h.m, j%h.m
	v := int8(1)
	if h.had != nil {
		v = h.had[ai*h.k+aj]
	}
	if bits.OnesCount(uint(bi&bj))&1 == 1 {
		v = -v
	}
	return v
}

func (h *hadamard) matrix() []float64 {
	n := h.n
	out := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if h.s[i]*h.mEntry(j, i) > 0 {
				out[i*n+j] = h.r
			} else {
				out[i*n+j] = -h.r
			}
		}
	}
	return out
}

// factorHadamard recognises a matrix of mllm's random Hadamard form
// A[i][j] = s_i·M[j][i]·r for some signs s and magnitude r > 0 (any r, so
// files written with another divisor are recognised too). It returns nil
// when a is not of that form.
func factorHadamard(a []float64, n int) *hadamard {
	k, had, err := HadK(n)
	if err != nil || len(a) != n*n {
		return nil
	}
	r := math.Abs(a[0])
	if r == 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return nil
	}
	h := &hadamard{n: n, k: k, m: n / k, had: had, s: make([]int8, n), r: r}
	h.prepare()
	for i := 0; i < n; i++ {
		// A[i][0] = s_i·M[0][i]·r
		v := a[i*n]
		if math.Abs(v) != r {
			return nil
		}
		s := h.mEntry(0, i)
		if v < 0 {
			s = -s
		}
		h.s[i] = s
	}
	for i := 0; i < n; i++ {
		row := a[i*n : (i+1)*n]
		for j, v := range row {
			want := h.r
			if h.s[i]*h.mEntry(j, i) < 0 {
				want = -h.r
			}
			if v != want {
				return nil
			}
		}
	}
	return h
}

// tableString serialises a ±1 table as lines of '+'/'-' joined by '\n'.
func tableString(t []int8, k int) string {
	var b strings.Builder
	for i := 0; i < k; i++ {
		if i > 0 {
			b.WriteByte('\n')
		}
		for j := 0; j < k; j++ {
			if t[i*k+j] > 0 {
				b.WriteByte('+')
			} else {
				b.WriteByte('-')
			}
		}
	}
	return b.String()
}
