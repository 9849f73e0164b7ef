package runtime

import (
	"math"
	"slices"
	"testing"
)

func TestSteps(t *testing.T) {
	if Step8(127) != 1 || Step16(32767) != 1 {
		t.Fatalf("Step8(127)=%v Step16(32767)=%v", Step8(127), Step16(32767))
	}
	// float32(float64(0.31f)/127): the double division, rounded once.
	if got, want := Step8(0.31), float32(float64(float32(0.31))/127); got != want {
		t.Fatalf("Step8(0.31) = %v, want %v", got, want)
	}
}

// TestQuantize checks the three quantizers on hand-computed codes.
// step 0.5: x/s = 0.5, 1.5, -0.5, 2.5, 200, -200, -2.5.
func TestQuantize(t *testing.T) {
	x := []float32{0.25, 0.75, -0.25, 1.25, 100, -100, -1.25}
	for _, tc := range []struct {
		name string
		bits int
		run  func(dst []int16)
		want []int16
	}{
		{"cpu int8 (RNE)", 8, func(d []int16) { QuantizeCPU(d, x, 0.5, 8) }, []int16{0, 2, 0, 2, 127, -128, -2}},
		{"htp ref int8 (half away)", 8, func(d []int16) { QuantizeHTP(d, x, 0.5, 8, RoundRef) }, []int16{1, 2, -1, 3, 127, -128, -3}},
		{"htp hvx int8 (half up)", 8, func(d []int16) { QuantizeHTP(d, x, 0.5, 8, RoundHVX) }, []int16{1, 2, 0, 3, 127, -128, -2}},
		{"cpu int16", 16, func(d []int16) { QuantizeCPU(d, x, 0.5, 16) }, []int16{0, 2, 0, 2, 200, -200, -2}},
		{"htp ref int16", 16, func(d []int16) { QuantizeHTP(d, x, 0.5, 16, RoundRef) }, []int16{1, 2, -1, 3, 200, -200, -3}},
		{"htp hvx int16", 16, func(d []int16) { QuantizeHTP(d, x, 0.5, 16, RoundHVX) }, []int16{1, 2, 0, 3, 200, -200, -2}},
	} {
		got := make([]int16, len(x))
		tc.run(got)
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: x=%v → %d, want %d", tc.name, x[i], got[i], tc.want[i])
			}
		}
	}
}

// TestQuantizeF16 uses step float32(1/3): ref lroundf(1001/s) =
// lroundf(float32(3002.99991)) = lroundf(3003) = 3003; HVX: fp16(1/s) = 3,
// fp16(1001·3 = 3003) = 3004 (tie to even; fp16 spacing is 2 above 2048),
// fp16(3004.5) = 3004, floor 3004. Saturation: 40000·3 → clamp to
// fp16(32767) = 32768, saturated to 32767.
func TestQuantizeF16(t *testing.T) {
	s := float32(1.0 / 3.0)
	x := []float32{1001, 40000, -40000}
	ref := make([]int16, 3)
	hvx := make([]int16, 3)
	QuantizeHTPF16(ref, x, s, 16, RoundRef)
	QuantizeHTPF16(hvx, x, s, 16, RoundHVX)
	if want := []int16{3003, 32767, -32768}; ref[0] != want[0] || ref[1] != want[1] || ref[2] != want[2] {
		t.Errorf("ref: %v, want %v", ref, want)
	}
	if want := []int16{3004, 32767, -32768}; hvx[0] != want[0] || hvx[1] != want[1] || hvx[2] != want[2] {
		t.Errorf("hvx: %v, want %v", hvx, want)
	}
}

// TestDequantize: int16 code 3001 (fp16(3001) = 3000 on HVX), int8 code
// 127 with step 0.1 (fp16(0.1) = 0.0999755859375 on HVX).
func TestDequantize(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    int16
		step float32
		bits int
		f16  bool
		mode Rounding
		want float32
	}{
		{"i16→f32 ref", 3001, 0.5, 16, false, RoundRef, 1500.5},
		{"i16→f32 hvx", 3001, 0.5, 16, false, RoundHVX, 1500},
		{"i16→f16 ref", 3001, 0.5, 16, true, RoundRef, 1500}, // fp16(1500.5) ties to even
		{"i16→f16 hvx", 3001, 0.5, 16, true, RoundHVX, 1500},
		{"i8→f16 ref", 127, 0.1, 8, true, RoundRef, 12.703125},  // fp16(12.7)
		{"i8→f16 hvx", 127, 0.1, 8, true, RoundHVX, 12.6953125}, // fp16(127·0.0999755859375)
		{"i8→f32 ref", -128, 0.25, 8, false, RoundRef, -32},
		{"i8→f32 hvx", -128, 0.25, 8, false, RoundHVX, -32},
	} {
		got := make([]float32, 1)
		Dequantize(got, []int16{tc.q}, tc.step, tc.bits, tc.f16, tc.mode)
		if got[0] != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got[0], tc.want)
		}
	}
}

// TestDequantizeAdd: code 3001, step 0.5, bias 0.25.
// ref f32 1500.75, f16 fp16(1500.75) = 1501; HVX f32 3000·0.5+0.25 =
// 1500.25, f16 fp16(1500 + 0.25) = 1500.
func TestDequantizeAdd(t *testing.T) {
	for _, tc := range []struct {
		f16  bool
		mode Rounding
		want float32
	}{
		{false, RoundRef, 1500.75}, {true, RoundRef, 1501},
		{false, RoundHVX, 1500.25}, {true, RoundHVX, 1500},
	} {
		got := make([]float32, 2)
		DequantizeAdd(got, []int16{3001, -2}, 0.5, []float32{0.25}, tc.f16, tc.mode)
		if got[0] != tc.want || got[1] != -0.75 {
			t.Errorf("f16=%v %v: %v, want [%v -0.75]", tc.f16, tc.mode, got, tc.want)
		}
	}
}

// TestQLinear checks the integer Conv2d and its requantization:
// x = [10,-20,30,-40], W rows [1,2,3,4] and [-1,1,-1,1] → acc = -100, -100.
// W8A8 with s_in 0.5, s_w 0.25, s_out 1 → -100·0.125 = -12.5 → -13 (half
// away from zero). W8A16 saturation and large accumulators.
func TestQLinear(t *testing.T) {
	l := &QLinear{In: 4, Out: 2, W: []int8{1, 2, 3, 4, -1, 1, -1, 1}, WScale: 0.25}
	got := make([]int16, 2)
	l.Forward(got, []int16{10, -20, 30, -40}, 1, 0.5, 1, 8, 1)
	if got[0] != -13 || got[1] != -13 {
		t.Errorf("W8A8: %v, want [-13 -13]", got)
	}
	l.Forward(got, []int16{10, -20, 30, -40}, 1, 0.5, 0.01, 8, 2)
	if got[0] != -128 || got[1] != -128 {
		t.Errorf("W8A8 saturation: %v, want [-128 -128]", got)
	}
	big := &QLinear{In: 128, Out: 1, W: make([]int8, 128), WScale: 1}
	x := make([]int16, 128)
	for i := range x {
		big.W[i] = 127
		x[i] = 32767
	}
	// acc = 128·127·32767 = 532676352; ·1e-5 = 5326.76352 → 5327.
	l16 := make([]int16, 1)
	big.Forward(l16, x, 1, 1e-5, 1, 16, 1)
	if l16[0] != 5327 {
		t.Errorf("W8A16: %d, want 5327", l16[0])
	}
	big.Forward(l16, x, 1, 1, 1, 16, 1)
	if l16[0] != 32767 {
		t.Errorf("W8A16 saturation: %d, want 32767", l16[0])
	}
	if Requant(-5, 0.5, 8) != -3 || Requant(5, 0.5, 8) != 3 || Requant(3, 0.5, 16) != 2 {
		t.Errorf("Requant rounding is not half away from zero")
	}
}

// TestQLinearLayouts checks transposeI8 (the file's [In][Out] weights to
// QLinear's [Out][In]) on shapes with In and Out not multiples of 8 or of
// the 64-row tile, for several thread counts, and Forward on the result
// against a plain int64 reference over the file layout.
func TestQLinearLayouts(t *testing.T) {
	s := uint64(5)
	next := func() uint64 { s = s*6364136223846793005 + 1442695040888963407; return s >> 33 }
	for _, sh := range []struct{ in, out, rows int }{
		{1, 1, 1}, {8, 8, 2}, {9, 7, 3}, {64, 17, 4}, {130, 40, 5}, {704, 33, 2}, {75, 64, 1},
	} {
		file := make([]int8, sh.in*sh.out) // [In][Out]
		for i := range file {
			file[i] = int8(next())
		}
		l := &QLinear{In: sh.in, Out: sh.out, W: make([]int8, sh.in*sh.out), WScale: 0.01}
		transposeI8(l.W, file, sh.in, sh.out, 2)
		x := make([]int16, sh.rows*sh.in)
		for i := range x {
			x[i] = int16(next())
		}
		const inStep, outStep = 0.003, 0.7
		mult := float64(float32(inStep)) * float64(l.WScale) / float64(float32(outStep))
		want := make([]int16, sh.rows*sh.out)
		for r := 0; r < sh.rows; r++ {
			for n := 0; n < sh.out; n++ {
				var acc int64
				for k := 0; k < sh.in; k++ {
					acc += int64(x[r*sh.in+k]) * int64(file[k*sh.out+n])
				}
				want[r*sh.out+n] = Requant(acc, mult, 16)
			}
		}
		for _, threads := range []int{1, 2, 3} {
			got := make([]int16, len(want))
			l.Forward(got, x, sh.rows, inStep, outStep, 16, threads)
			if !slices.Equal(got, want) {
				t.Fatalf("%+v threads %d: Forward %v, want %v", sh, threads, got, want)
			}
		}
		for _, threads := range []int{1, 2} {
			wt := make([]int8, sh.in*sh.out)
			transposeI8(wt, file, sh.in, sh.out, threads)
			for n := 0; n < sh.out; n++ {
				for k := 0; k < sh.in; k++ {
					if wt[n*sh.in+k] != file[k*sh.out+n] {
						t.Fatalf("%+v threads %d: transposeI8 (%d,%d) wrong", sh, threads, n, k)
					}
				}
			}
		}
	}
}

// TestF16Ops: σ(1) = 0.7310585786 → fp16 0.73095703125; σ(-2) =
// 0.1192029220 → fp16 0.11920166015625, ·(−2) = −0.2384033203125.
// fp16(0.1)·3 = 0.2999267578125 → tie → 0.2998046875.
func TestF16Ops(t *testing.T) {
	for _, tc := range []struct {
		got, want float32
	}{
		{SiLUF16(1), 0.73095703125},
		{SiLUF16(-2), -0.2384033203125},
		{SiLUF16(0), 0},
		{MulF16(RoundF16(0.1), 3), 0.2998046875},
		{RoundF16(65519), 65504},
		{RoundF16(65520), float32(math.Inf(1))},
		{RoundF16(0x1p-25), 0},         // tie → even (0)
		{RoundF16(0x1.8p-24), 0x1p-23}, // 1.5 subnormal ulps → 2
		{RoundF16(2049), 2048},         // tie → even
		{RoundF16(2051), 2052},         // tie → even
		{RoundF16(-1.0009765625), -1.0009765625},
	} {
		if tc.got != tc.want {
			t.Errorf("got %v, want %v", tc.got, tc.want)
		}
	}
}

// TestRoundF16MatchesConverter compares the fast rounding with pkg/tensor's
// binary16 converter on a sweep of float32 values.
func TestRoundF16MatchesConverter(t *testing.T) {
	for u := uint32(0); u < 0x48000000; u += 0x1357 {
		for _, s := range []uint32{0, 1 << 31} {
			f := math.Float32frombits(u | s)
			if got, want := RoundF16(f), tensor16(f); math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("RoundF16(%g) = %g, converter %g", f, got, want)
			}
		}
	}
}

// TestVecDotF16 shows the fp16 accumulation: lane 0 receives 2048·1 then
// 1·1; fp16(2048+1) = 2048 (tie to even). With n = 33 the second product
// is a float32 leftover and survives.
func TestVecDotF16(t *testing.T) {
	x := make([]float32, 64)
	y := make([]float32, 64)
	x[0], y[0], x[32], y[32] = 2048, 1, 1, 1
	if got := VecDotF16(x, y, 64); got != 2048 {
		t.Errorf("fp16-accumulated dot = %v, want 2048", got)
	}
	if got := VecDotF16(x[:33], y[:33], 33); got != 2049 {
		t.Errorf("with a float32 leftover = %v, want 2049", got)
	}
	// Lanes 0..7 and the reduction: 16 lanes of 0.5·1 → 8 → exact.
	for i := range x {
		x[i], y[i] = 0.5, 1
	}
	if got := VecDotF16(x, y, 64); got != 32 {
		t.Errorf("all 0.5: %v, want 32", got)
	}
	// valid skips zero steps without changing the result.
	clear(x[32:])
	if a, b := VecDotF16(x, y, 32), VecDotF16(x, y, 64); a != b || a != 16 {
		t.Errorf("valid=32: %v, full: %v, want 16", a, b)
	}
}

// TestRMSNorm: x = [1,2,3,4], w = [1,1,1,2]: Σx²/4 = 7.5,
// y = x·w/sqrt(7.5+1e-6) ≈ [0.36514837, 0.73029674, 1.0954451, 2.9211870].
func TestRMSNorm(t *testing.T) {
	x := []float32{1, 2, 3, 4}
	w := []float32{1, 1, 1, 2}
	want := []float64{0.36514837, 0.73029674, 1.0954451, 2.9211870}
	for _, kind := range []RMSNormKind{NormCPU, NormHTPRef, NormHTPHVX} {
		got := make([]float32, 4)
		RMSNorm(kind, got, x, w, 1, 1e-6)
		for i := range got {
			if math.Abs(float64(got[i])-want[i]) > 2e-7*want[i] {
				t.Errorf("kind %d: y[%d] = %.9g, want %.9g", kind, i, got[i], want[i])
			}
		}
	}
	// The HVX lane reduction: 64 elements, element j in lane j%32.
	x64 := make([]float32, 64)
	for i := range x64 {
		x64[i] = float32(i%7) - 3
	}
	ones := make([]float32, 64)
	for i := range ones {
		ones[i] = 1
	}
	a, b := make([]float32, 64), make([]float32, 64)
	RMSNorm(NormHTPRef, a, x64, ones, 1, 1e-6)
	RMSNorm(NormHTPHVX, b, x64, ones, 1, 1e-6)
	for i := range a { // exact integer sums: both variants agree to an ulp
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			t.Fatalf("ref %v vs hvx %v at %d", a[i], b[i], i)
		}
	}
}

// TestRoPE: theta 10000, head_dim 4 → theta = [1, 0.01]. Position 1,
// x = [1, 0, 0, 1]: y = [cos 1, −sin 0.01, sin 1, cos 0.01].
func TestRoPE(t *testing.T) {
	tab := NewRoPETable(10000, 4)
	if tab.theta[0] != 1 || tab.theta[1] != 0.01 {
		t.Fatalf("theta = %v", tab.theta)
	}
	for _, f16 := range []bool{false, true} {
		x := []float32{0, 0, 0, 0, 1, 0, 0, 1} // rows: pos 0 (zeros), pos 1
		tab.Apply(x, 2, 1, 0, f16)
		want := []float64{math.Cos(1), -math.Sin(float64(float32(0.01))), math.Sin(1), math.Cos(float64(float32(0.01)))}
		tol := 1e-7
		if f16 {
			tol = 1e-3
		}
		for i, w := range want {
			if math.Abs(float64(x[4+i])-w) > tol {
				t.Errorf("f16=%v: y[%d] = %v, want %v", f16, i, x[4+i], w)
			}
			if f16 && RoundF16(x[4+i]) != x[4+i] {
				t.Errorf("f16 output %v is not a binary16 value", x[4+i])
			}
		}
	}
}

// TestVExpfAndSoftmax checks mllm_v_expf against exp (its documented bound
// is 1.5 ulp) and the causal softmax.
func TestVExpfAndSoftmax(t *testing.T) {
	for x := float32(-100); x < 88; x += 0.0137 {
		got := float64(VExpf(x))
		want := math.Exp(float64(x))
		ulp := float64(math.Nextafter32(float32(want), float32(math.Inf(1)))) - float64(float32(want))
		if math.Abs(got-want) > 2*ulp {
			t.Fatalf("VExpf(%v) = %v, exp = %v", x, got, want)
		}
	}
	if VExpf(-200) != 0 || !math.IsInf(float64(VExpf(100)), 1) {
		t.Errorf("VExpf range: %v %v", VExpf(-200), VExpf(100))
	}
	x := []float32{1, 2, 3, 4, 5, 100}
	p := make([]float32, 6)
	SoftmaxMLLM(p, x, 5) // the masked sixth entry is ignored
	var s float64
	for i := 0; i < 5; i++ {
		s += float64(p[i])
		want := math.Exp(float64(x[i])-5) / (1 + math.Exp(-1) + math.Exp(-2) + math.Exp(-3) + math.Exp(-4))
		if math.Abs(float64(p[i])-want) > 1e-6 {
			t.Errorf("p[%d] = %v, want %v", i, p[i], want)
		}
	}
	if p[5] != 0 {
		t.Errorf("masked entry written: %v", p[5])
	}
}

// TestShadowLinear: one row, In = 2, Out = 2; input range 127 (s_in = 1),
// weight step 0.5, output range 127 (s_out = 1). W = [[2, 0], [0, 4]]
// ([In][Out]: w[0][0]=2, w[1][1]=4). X = [200, 3]: r = 200 is an input
// outlier: o = 200·1·0.5 = 100, c = 127·0.5 = 63.5, so OUT[0] += 100·2 −
// 63.5·2 = 73 and OUT[1] += 0. Y = [127, 5]: channel 0 saturated:
// sum = 200·(2·0.5) + 3·0 = 200, OUT[0] = Z[0] − 127 + 200.
func TestShadowLinear(t *testing.T) {
	l := &QLinear{In: 2, Out: 2, W: []int8{2, 0, 0, 4}, WScale: 0.5, InRange: 127, OutRange: 127, ClipIn: true, ClipOut: true}
	x := []float32{200, 3}
	y := []int16{127, 5}
	z := []float32{10, 20}
	got := shadowLinear(l, x, y, z, 1)
	if got[0] != 10 || got[1] != 20 {
		t.Errorf("no outlier flags: %v, want unchanged", got)
	}
	l.ClipIn = false
	l.ClipOut = true
	if got = shadowLinear(l, x, y, z, 1); got[0] != 83 || got[1] != 20 {
		t.Errorf("input outliers: %v, want [83 20]", got)
	}
	l.ClipIn = true
	l.ClipOut = false
	if got = shadowLinear(l, x, y, z, 1); got[0] != 83 || got[1] != 20 {
		t.Errorf("output outliers: %v, want [83 20]", got)
	}
}

// TestDotI16I8 compares the dispatching integer dot product (AVX2 on
// amd64) with the portable loop, on random and extreme codes and lengths
// that exercise the 128-iteration widening and the tails.
func TestDotI16I8(t *testing.T) {
	s := uint64(7)
	next := func() uint64 { s = s*6364136223846793005 + 1442695040888963407; return s >> 33 }
	for _, n := range []int{0, 1, 15, 16, 17, 256, 704, 2048, 2064, 4100} {
		for _, extreme := range []bool{false, true} {
			x := make([]int16, n)
			w := make([]int8, n)
			for i := range x {
				x[i], w[i] = int16(next()), int8(next())
				if extreme {
					x[i], w[i] = -32768, -128
				}
			}
			if got, want := dotI16I8(x, w), dotI16I8Generic(x, w); got != want {
				t.Fatalf("n=%d extreme=%v: %d, generic %d", n, extreme, got, want)
			}
		}
	}
}

// TestF16FMASteps compares the AVX2 fp16 FMA lanes with the portable
// ones on random fp16 data spanning subnormals, normals and overflow.
func TestF16FMASteps(t *testing.T) {
	s := uint64(11)
	next := func() float32 {
		s = s*6364136223846793005 + 1442695040888963407
		e := int(s>>40)%40 - 26 // 2^-26 .. 2^13
		m := float64(s>>20&0xfffff)/float64(1<<20) + 1
		if s>>63 == 1 {
			m = -m
		}
		return RoundF16(float32(math.Ldexp(m, e)))
	}
	for _, steps := range []int{1, 2, 5, 40} {
		x := make([]float32, 32*steps)
		y := make([]float32, 32*steps)
		for i := range x {
			x[i], y[i] = next(), next()
			if i%97 == 0 {
				x[i], y[i] = 60000, 2 // overflow to Inf
			}
			if i%89 == 0 {
				x[i], y[i] = 0, 0
			}
		}
		var a, b [32]float64
		f16FMASteps(x, y, steps, &a)
		f16FMAStepsGeneric(x, y, steps, &b)
		for l := range a {
			if math.Float64bits(a[l]) != math.Float64bits(b[l]) && !(math.IsNaN(a[l]) && math.IsNaN(b[l])) {
				t.Fatalf("steps %d lane %d: %v, generic %v", steps, l, a[l], b[l])
			}
		}
	}
}

// TestF16Dot32 compares the AVX2 steps+reduction with the portable path.
func TestF16Dot32(t *testing.T) {
	s := uint64(5)
	next := func() float32 {
		s = s*6364136223846793005 + 1442695040888963407
		return RoundF16(float32(math.Ldexp(float64(int64(s>>40)-(1<<23))/float64(1<<23), int(s>>20)%30-20)))
	}
	for _, steps := range []int{0, 1, 2, 7} {
		x := make([]float32, 32*steps+32)
		y := make([]float32, len(x))
		for i := range x {
			x[i], y[i] = next(), next()
		}
		var a, b [32]float64
		f16Dot32(x, y, steps, &a)
		f16FMAStepsGeneric(x, y, steps, &b)
		f16Reduce(&b)
		for l := 0; l < 8; l++ {
			if math.Float64bits(a[l]) != math.Float64bits(b[l]) {
				t.Fatalf("steps %d lane %d: %v, generic %v", steps, l, a[l], b[l])
			}
		}
	}
}
