package rotate

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestBaseTableDigests checks every base table against spec Appendix A.
func TestBaseTableDigests(t *testing.T) {
	want := map[int]string{
		12:  "78bb693d59202c7aa2945ec60660b234948cea70922c74ddc6c92c9af318c739",
		20:  "52927d488d55a58ea56ed31e2d5eaf9b6538f6f96ebf0cd3e8645ab19d7da1ce",
		28:  "85eb455f3cf7819c9bcb2cf569782a4f991b8b2fb4a9a24b187be0ce1fa71b24",
		36:  "31d5cec22deb88790cb6bbbcbed7efcf3c50a94a0bde63b670cdba5b6a693841",
		40:  "8cd17c4fce4c2af2e3a728959ddc33324513217b6c597cfdb6d9d80fd6fe693e",
		52:  "d29c4ee2fe7d69eda4a1b478847d6e81b4870875256dfcbaa1c864a2632ba192",
		60:  "f5d7048432fd3a51f035a3fe9e8ca76eb56993c75aaf63333c51f3b4141849a7",
		108: "96827ff505b4d4beb2ea34aa9d32b7238f2dae40cb3ee508533b543a29ba6838",
		140: "8559fcbfa2a1bc356ab6323bb3d7fef5069aa86b81eb616f1a0c9c68b3444c1d",
		156: "d8a01bc66af9184ddaf028c8a22946c701fd0207a10a2c4e0fb1f85d46b43abd",
		172: "690f0f133fd9b3a0c65769f1b28ef28644fc40498189be933df039532aceebd4",
	}
	for _, k := range hadKOrder {
		tb, err := BaseTable(k)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(tableString(tb, k)))
		if got := hex.EncodeToString(sum[:]); got != want[k] {
			t.Errorf("had%d: sha256 %s, want %s", k, got, want[k])
		}
		// H·Hᵀ = K·I
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				var dot int
				for x := 0; x < k; x++ {
					dot += int(tb[i*k+x]) * int(tb[j*k+x])
				}
				if (i == j && dot != k) || (i != j && dot != 0) {
					t.Fatalf("had%d: row %d · row %d = %d", k, i, j, dot)
				}
			}
		}
	}
	if _, err := BaseTable(24); err == nil {
		t.Fatal("BaseTable(24) accepted")
	}
}

func TestHad12Literal(t *testing.T) {
	lit := `+-----------
++-+---+++-+
+++-+---+++-
+-++-+---+++
++-++-+---++
+++-++-+---+
++++-++-+---
+-+++-++-+--
+--+++-++-+-
+---+++-++-+
++---+++-++-
+-+---+++-++`
	tb, _ := BaseTable(12)
	if got := tableString(tb, 12); got != lit {
		t.Fatalf("had12:\n%s", got)
	}
}

func TestHadK(t *testing.T) {
	for n, k := range map[int]int{64: 1, 80: 40, 128: 1, 896: 28, 1024: 1, 1280: 40, 1536: 12, 2048: 1,
		2560: 40, 3072: 12, 3584: 28, 4096: 1, 5120: 40, 5504: 172, 8960: 140, 11008: 172, 13824: 108, 240: 60,
		1: 1, 12: 12, 24: 12, 8: 1} {
		got, _, err := HadK(n)
		if err != nil || got != k {
			t.Errorf("HadK(%d) = %d, %v; want %d", n, got, err, k)
		}
	}
	for _, n := range []int{4864, 18944, 2816, 0, -4, 3, 180, 516} {
		_, _, err := HadK(n)
		if err == nil || !strings.Contains(err.Error(), "size") {
			t.Errorf("HadK(%d): err %v, want an unsupported-size error", n, err)
		}
	}
	if _, err := RandomHadamard(4864, rand.New(rand.NewPCG(1, 2))); err == nil || !strings.Contains(err.Error(), "4864") {
		t.Fatalf("RandomHadamard(4864): %v", err)
	}
}

// TestTV9 is spec test vector TV9.
func TestTV9(t *testing.T) {
	// n=4, s = [+1,-1,+1,+1], d = 2.
	r, err := SignedHadamard(4, []int8{1, -1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{.5, .5, .5, .5, -.5, .5, -.5, .5, .5, .5, -.5, -.5, .5, -.5, -.5, .5}
	for i := range want {
		if r[i] != want[i] {
			t.Fatalf("n=4: R = %v, want %v", r, want)
		}
	}
	// n=12, s = +1: R[i][j] = had12[j][i]/3.464101552963257.
	if d := Divisor(12); d != 3.464101552963257 {
		t.Fatalf("d(12) = %v", d)
	}
	ones := make([]int8, 24)
	for i := range ones {
		ones[i] = 1
	}
	r12, _ := SignedHadamard(12, ones[:12])
	const e12 = 0.2886751397760211
	row1 := "-++-+++---+-"
	for j := 0; j < 12; j++ {
		if r12[j] != e12 {
			t.Fatalf("n=12 row 0: %v", r12[:12])
		}
		want := e12
		if row1[j] == '-' {
			want = -e12
		}
		if r12[12+j] != want {
			t.Fatalf("n=12 row 1 col %d: %v, want %v", j, r12[12+j], want)
		}
	}
	// n=24: R[i][j] = s_i·had12[a_j][a_i]·(-1)^(b_i·b_j)/d, i = 2a+b.
	rng := rand.New(rand.NewPCG(7, 7))
	s := drawSigns(24, rng)
	r24, _ := SignedHadamard(24, s)
	h12, _ := BaseTable(12)
	d24 := Divisor(24)
	if d24 != 4.898979663848877 {
		t.Fatalf("d(24) = %v", d24)
	}
	for i := 0; i < 24; i++ {
		for j := 0; j < 24; j++ {
			v := float64(s[i]) * float64(h12[(j/2)*12+i/2])
			if (i%2)*(j%2) == 1 {
				v = -v
			}
			if want := v * (1 / d24); r24[i*24+j] != want {
				t.Fatalf("n=24 R[%d][%d] = %v, want %v", i, j, r24[i*24+j], want)
			}
		}
	}
	// Divisors and entries quoted by spec §3.3.
	for n, inv := range map[int]float64{2048: 0.02209708729025515, 128: 0.0883883491610206,
		1536: 0.025515517225436678, 896: 0.033407654268296685, 12: 0.2886751397760211} {
		if got := 1 / Divisor(n); got != inv {
			t.Errorf("1/d(%d) = %v, want %v", n, got, inv)
		}
	}
	if Divisor(2048) != 45.25483322143555 {
		t.Errorf("d(2048) = %v", Divisor(2048))
	}
	// R[i][j]²·d² == 1 exactly and R·Rᵀ = (n/d²)·I.
	for _, tc := range []struct {
		n   int
		dev float64
	}{{8, 3.4228543e-8}, {1536, -7.278353e-8}, {12, 0}, {40, 0}, {80, 0}, {96, 0}, {112, 0}, {64, 0}} {
		r, err := RandomHadamard(tc.n, rng)
		if err != nil {
			t.Fatal(err)
		}
		d := Divisor(tc.n)
		n := tc.n
		for _, v := range r {
			if v*v*d*d != 1 {
				t.Fatalf("n=%d: entry %v: R²d² = %v", n, v, v*v*d*d)
			}
		}
		diag := float64(n) / (d * d)
		if tc.dev != 0 && math.Abs((diag-1)-tc.dev) > 1e-14 {
			t.Errorf("n=%d: n/d²-1 = %.8g, want %.8g", n, diag-1, tc.dev)
		}
		step := 1
		if n > 200 {
			step = 97
		}
		for i := 0; i < n; i += step {
			for j := 0; j < n; j++ {
				var dot float64
				for x := 0; x < n; x++ {
					dot += r[i*n+x] * r[j*n+x]
				}
				want := 0.0
				if i == j {
					want = diag
				}
				if math.Abs(dot-want) > 1e-12 {
					t.Fatalf("n=%d: (R·Rᵀ)[%d][%d] = %v, want %v", n, i, j, dot, want)
				}
			}
		}
	}
}

func TestFactorHadamard(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 4, 12, 24, 40, 64, 80, 112, 256} {
		r, err := RandomHadamard(n, rng)
		if err != nil {
			t.Fatal(err)
		}
		h := factorHadamard(r, n)
		if h == nil {
			t.Fatalf("n=%d: not recognised", n)
		}
		back := h.matrix()
		for i := range r {
			if back[i] != r[i] {
				t.Fatalf("n=%d: refactored matrix differs at %d", n, i)
			}
		}
		r[len(r)-1] = -r[len(r)-1]
		if n > 1 && factorHadamard(r, n) != nil {
			t.Fatalf("n=%d: a flipped entry was still recognised", n)
		}
	}
}
