package calib

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TV12: Python repr(float) cases.
func TestFormatFloatTV12(t *testing.T) {
	cases := []struct {
		v    float64
		want string
	}{
		{100.0, "100.0"},
		{1e-05, "1e-05"},
		{0.0001, "0.0001"},
		{1e16, "1e+16"},
		{1234567890123456.0, "1234567890123456.0"},
		{12.345678329467773, "12.345678329467773"},
		{0.8049999475479126, "0.8049999475479126"},
		{math.Copysign(0, -1), "-0.0"},
		{0, "0.0"},
		{1.5e-07, "1.5e-07"},
		{123456789012345678.0, "1.2345678901234568e+17"},
		{5e-324, "5e-324"},
		{-2.5, "-2.5"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
		{float64(float32(3.4028234663852886e+38)), "3.4028234663852886e+38"},
		{0.001, "0.001"},
		{123.0, "123.0"},
	}
	for _, c := range cases {
		if got := FormatFloat(c.v); got != c.want {
			t.Errorf("FormatFloat(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

// TV12: the spec §2.6 example, byte for byte (no trailing newline).
func TestWriteJSONSpecExample(t *testing.T) {
	want, err := os.ReadFile("../../testdata/calib/spec_example.json")
	if err != nil {
		t.Fatal(err)
	}
	l := "model.layers.0.mlp.down_proj"
	s := NewScaleFile()
	s.Layers = []string{l}
	s.Ori[l] = Range{7.5, 100}
	s.Top01[l] = Range{2, 2}
	s.AllStat[l] = [2]Stat{{0.8049999475479126, 2.5542562007904053}, {20.350000381469727, 39.84143829345703}}
	var b bytes.Buffer
	if err := s.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("got\n%s\nwant\n%s", b.Bytes(), want)
	}
	// and it reads back to the same bytes
	r, err := ParseScaleJSON(want)
	if err != nil {
		t.Fatal(err)
	}
	var b2 bytes.Buffer
	if err := r.WriteJSON(&b2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b2.Bytes(), want) {
		t.Fatalf("round trip differs:\n%s", b2.Bytes())
	}
}

func TestScaleFileRoundTripOrderAndSpecials(t *testing.T) {
	s := NewScaleFile()
	// deliberately not sorted: the order must survive
	s.Layers = []string{"model.layers.1.x", "model.layers.0.y", "lm_head"}
	for i, l := range s.Layers {
		s.Ori[l] = Range{float64(i) + 0.5, math.Inf(1)}
		s.Top01[l] = Range{math.NaN(), -1e-7}
		s.AllStat[l] = [2]Stat{{1e16, 0}, {math.Inf(-1), 1.25}}
	}
	var b bytes.Buffer
	if err := s.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := ReadScaleFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Layers, ",") != strings.Join(s.Layers, ",") {
		t.Fatalf("order %v", r.Layers)
	}
	var b2 bytes.Buffer
	if err := r.WriteJSON(&b2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), b2.Bytes()) {
		t.Fatalf("round trip differs")
	}
	if !math.IsNaN(r.Top01["lm_head"].Input) || !math.IsInf(r.Ori["lm_head"].Output, 1) {
		t.Fatalf("specials lost: %+v %+v", r.Top01["lm_head"], r.Ori["lm_head"])
	}
}

func TestReadScaleFileErrors(t *testing.T) {
	good := `{"ori": {"a": {"input": 1, "output": 2}}, "top_0_1": {"a": {"input": 1, "output": 2}}, "all_stat": {"a": {"input": {"mean": 0, "std": 1}, "output": {"mean": 0, "std": 1}}}}`
	if _, err := ParseScaleJSON([]byte(good)); err != nil {
		t.Fatalf("good file rejected: %v", err)
	}
	cases := []struct{ name, in, want string }{
		{"missing layer in ori", strings.Replace(good, `"ori": {"a"`, `"ori": {"b"`, 1), `"a"`},
		{"missing key", strings.Replace(good, `"top_0_1": {"a": {"input": 1, "output": 2}}`, `"top_0_1": {"a": {"input": 1}}`, 1), `top_0_1.a: missing key "output"`},
		{"string value", strings.Replace(good, `"std": 1}}}}`, `"std": "x"}}}}`, 1), `all_stat.a.output.std is not a number`},
		{"missing section", `{"ori": {}, "top_0_1": {}}`, `"all_stat"`},
		{"unknown section", `{"ori": {}, "top_0_1": {}, "all_stat": {}, "x": 1}`, `"x"`},
		{"extra layer", strings.Replace(good, `"ori": {"a": {"input": 1, "output": 2}}`, `"ori": {"a": {"input": 1, "output": 2}, "z": {"input": 1, "output": 2}}`, 1), `"z"`},
		{"syntax", `{"ori": {`, `offset`},
		{"trailing", good + "x", `trailing`},
	}
	for _, c := range cases {
		_, err := ParseScaleJSON([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %s", c.name, err, c.want)
		}
	}
}

// TV7: the clip rule.
func TestClipDecisionsTV7(t *testing.T) {
	mk := func(ori, top float64) *ScaleFile {
		s := NewScaleFile()
		s.Layers = []string{"L"}
		s.Ori["L"] = Range{ori, ori}
		s.Top01["L"] = Range{top, top}
		s.AllStat["L"] = [2]Stat{}
		return s
	}
	ip := func(i int) *int { return &i }
	cases := []struct {
		name      string
		ori, top  float64
		t         *int
		clipAll   bool
		noIn      map[string]bool
		wantClip  [2]bool
		wantScale [2]float64
	}{
		{"128>7.5", 7.5, 2, ip(64), false, nil, [2]bool{true, true}, [2]float64{7.5, 7.5}},
		{"6>100 false", 100, 2, ip(3), false, nil, [2]bool{false, false}, [2]float64{2, 2}},
		{"equal", 128, 2, ip(64), false, nil, [2]bool{false, false}, [2]float64{2, 2}},
		{"clip_all without t", 128, 2, nil, true, nil, [2]bool{true, true}, [2]float64{128, 128}},
		{"no_clip_input", 7.5, 2, ip(64), true, map[string]bool{"L": true}, [2]bool{false, true}, [2]float64{2, 7.5}},
	}
	for _, c := range cases {
		d, err := mk(c.ori, c.top).ClipDecisions(c.t, c.clipAll, c.noIn, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := d[0]
		if got.Layer != "L" || got.ClipIn != c.wantClip[0] || got.ClipOut != c.wantClip[1] || got.ScaleIn != c.wantScale[0] || got.ScaleOut != c.wantScale[1] {
			t.Errorf("%s: got %+v", c.name, got)
		}
	}
	if _, err := mk(1, 1).ClipDecisions(nil, false, nil, nil); err == nil {
		t.Errorf("missing threshold without clip_all must be an error")
	}
}
