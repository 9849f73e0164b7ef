package export

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/calib"
	"github.com/qnnkit/qnnkit/pkg/config"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/quant"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

const (
	modelDir   = "../../testdata/tinyqwen2"
	rPath      = "../../testdata/rotate/R-seed3.bin"
	scalePath  = "../../testdata/export/tinyqwen2-scales.json"
	rotGolden  = "../../testdata/quant/tinyqwen2-rot-f32.mllm"
	threshold  = 64
	numLinears = 4*7 + 1
)

func modelConfig() config.ModelConfig {
	return config.ModelConfig{ModelType: "qwen2", TokenizerName: modelDir, ModelName: modelDir, OnlineRotation: true, RPath: rPath}
}

func exportConfig() config.ExportConfig {
	t := threshold
	return config.ExportConfig{ScaleFile: scalePath, OutputModel: "unused.pth", T01mClipThreshold: &t, ModelConfig: modelConfig()}
}

func loadRotated(t *testing.T) *Model {
	t.Helper()
	m, err := LoadModel(modelConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func encode(t *testing.T, s State) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.mllm")
	if err := WriteMLLM(p, s); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exportrot straight to .mllm reproduces the f32 file mllm's toolchain made
// from the same checkpoint and R file (export_rotate_model.py + converter.py).
func TestRotatedMLLMMatchesMLLM(t *testing.T) {
	m := loadRotated(t)
	got := encode(t, RotatedState(m.Weights))
	want, err := os.ReadFile(rotGolden)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gf, err := mllmfmt.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	wf, err := mllmfmt.Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	if len(gf.Entries) != len(wf.Entries) {
		t.Fatalf("%d tensors, mllm's file has %d", len(gf.Entries), len(wf.Entries))
	}
	ulp1, worse := 0, 0
	for i, e := range wf.Entries {
		g := gf.Entries[i]
		if g.Name != e.Name || g.DType != e.DType || g.Size != e.Size {
			t.Fatalf("entry %d: %s %v %d, mllm's %s %v %d", i, g.Name, g.DType, g.Size, e.Name, e.DType, e.Size)
		}
		a, b := gf.Data(g), wf.Data(e)
		for j := 0; j < len(a); j += 4 {
			d := int64(int32(binary.LittleEndian.Uint32(a[j:]))) - int64(int32(binary.LittleEndian.Uint32(b[j:])))
			switch {
			case d == 0:
			case d == 1 || d == -1:
				ulp1++
			default:
				worse++
			}
		}
	}
	t.Errorf("output differs from mllm's: %d elements 1 ulp apart, %d further", ulp1, worse)
}

func TestRotatedStateOrder(t *testing.T) {
	m := loadRotated(t)
	names := RotatedState(m.Weights).Names()
	want := []string{"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.bias", "model.layers.0.self_attn.k_proj.weight"}
	for i, w := range want {
		if names[i] != w {
			t.Fatalf("key %d = %q, want %q", i, names[i], w)
		}
	}
	if names[len(names)-2] != "model.norm.weight" || names[len(names)-1] != "lm_head.weight" {
		t.Errorf("last keys %v", names[len(names)-2:])
	}
}

func readScales(t *testing.T) *calib.ScaleFile {
	t.Helper()
	sf, err := calib.ReadScaleFile(scalePath)
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

// The QNN state: order and content of spec §4.5/4.6.
func TestQNNState(t *testing.T) {
	m := loadRotated(t)
	sf := readScales(t)
	s, rep, err := QNNState(m.Weights, sf, scalePath, exportConfig(), QNNOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*tensor.Tensor{}
	for _, x := range s {
		byName[x.Name] = x
	}
	sd := m.Weights.StateDict()
	// State-dict keys first, each quantized weight followed by its scale.
	var wantOrder []string
	for _, e := range sd {
		wantOrder = append(wantOrder, e.Name)
		if strings.HasSuffix(e.Name, ".weight") && strings.Contains(e.Name, "_proj") {
			wantOrder = append(wantOrder, e.Name+".scale")
		}
	}
	for _, l := range sf.Layers {
		wantOrder = append(wantOrder, l+".input_scale", l+".output_scale", l+".clip_input", l+".clip_output")
	}
	if got := strings.Join(s.Names(), "\n"); got != strings.Join(wantOrder, "\n") {
		t.Fatalf("key order:\n%s\nwant:\n%s", got, strings.Join(wantOrder, "\n"))
	}
	for _, e := range sd {
		x := byName[e.Name]
		isQ := strings.HasSuffix(e.Name, ".weight") && strings.Contains(e.Name, "_proj")
		if !isQ {
			if x.DType != tensor.F32 {
				t.Errorf("%s: dtype %v, want F32", e.Name, x.DType)
			}
			b, _ := x.Data()
			if !bytes.Equal(b, tensor.Float32Bytes(e.Data)) {
				t.Errorf("%s: not the rotated float32 weights", e.Name)
			}
			continue
		}
		if x.DType != tensor.I8 || len(x.Shape) != 2 || x.Shape[0] != e.Shape[1] || x.Shape[1] != e.Shape[0] {
			t.Errorf("%s: %v %v, want I8 [%d %d]", e.Name, x.DType, x.Shape, e.Shape[1], e.Shape[0])
		}
		q, scale, err := quant.QuantizeLinearInt8(e.Data, e.Shape[0], e.Shape[1], false)
		if err != nil {
			t.Fatal(err)
		}
		b, err := x.Data()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, q) {
			t.Errorf("%s: int8 bytes differ from QuantizeLinearInt8", e.Name)
		}
		sc := byName[e.Name+".scale"]
		sb, _ := sc.Data()
		if sc.DType != tensor.F32 || len(sc.Shape) != 0 || math.Float32frombits(binary.LittleEndian.Uint32(sb)) != scale {
			t.Errorf("%s.scale: %v %v %x, want 0-dim F32 %v", e.Name, sc.DType, sc.Shape, sb, scale)
		}
	}
	// Clip flags and scales follow the rule (ratios 10, 64, 100, 3 → clip, no, no, clip).
	if rep.ClipInput+len(rep.NoClipInput) != numLinears || rep.ClipOutput+len(rep.NoClipOutput) != numLinears {
		t.Errorf("counters %+v do not add up to %d layers", rep, numLinears)
	}
	for k, l := range sf.Layers {
		wantIn := k%4 == 0 || k%4 == 3
		wantOut := (k+1)%4 == 0 || (k+1)%4 == 3
		ci, _ := byName[l+".clip_input"].Data()
		co, _ := byName[l+".clip_output"].Data()
		if (ci[0] == 1) != wantIn || (co[0] == 1) != wantOut || byName[l+".clip_input"].DType != tensor.Bool {
			t.Errorf("%s: clip_input %v clip_output %v, want %v %v", l, ci, co, wantIn, wantOut)
		}
		is, _ := byName[l+".input_scale"].Data()
		wantScale := sf.Top01[l].Input
		if wantIn {
			wantScale = sf.Ori[l].Input
		}
		if math.Float32frombits(binary.LittleEndian.Uint32(is)) != float32(wantScale) {
			t.Errorf("%s.input_scale = %x, want %v", l, is, wantScale)
		}
	}
	if x := byName["lm_head.weight"]; x.DType != tensor.F32 {
		t.Errorf("lm_head.weight is %v, want F32", x.DType)
	}
}

// TV7 through the export: the clip rule's edge cases on real layer names.
func TestQNNClipRuleTV7(t *testing.T) {
	m := loadRotated(t)
	names := make([]string, 0, numLinears)
	for _, l := range m.Weights.Linears() {
		names = append(names, l.Name)
	}
	mk := func(ori, top float64) *calib.ScaleFile {
		sf := calib.NewScaleFile()
		for _, n := range names {
			sf.Layers = append(sf.Layers, n)
			sf.Ori[n] = calib.Range{Input: ori, Output: ori}
			sf.Top01[n] = calib.Range{Input: top, Output: top}
			sf.AllStat[n] = [2]calib.Stat{{Mean: 0, Std: 1}, {Mean: 0, Std: 1}}
		}
		return sf
	}
	three, sixtyFour := 3, 64
	for _, c := range []struct {
		name     string
		ori, top float64
		t        *int
		clipAll  bool
		clip     bool
		scale    float32
	}{
		{"128>7.5", 7.5, 2, &sixtyFour, false, true, 7.5},
		{"6>100 false", 100, 2, &three, false, false, 2},
		{"equal", 128, 2, &sixtyFour, false, false, 2},
		{"clip_all without t", 100, 2, nil, true, true, 100},
	} {
		ec := exportConfig()
		ec.T01mClipThreshold, ec.ClipAll = c.t, c.clipAll
		s, rep, err := QNNState(m.Weights, mk(c.ori, c.top), "tv7.json", ec, QNNOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := 0
		if c.clip {
			want = numLinears
		}
		if rep.ClipInput != want || rep.ClipOutput != want {
			t.Errorf("%s: clip counters %d/%d, want %d", c.name, rep.ClipInput, rep.ClipOutput, want)
		}
		for _, x := range s {
			if strings.HasSuffix(x.Name, "_scale") && !strings.HasSuffix(x.Name, ".weight.scale") {
				b, _ := x.Data()
				if v := math.Float32frombits(binary.LittleEndian.Uint32(b)); v != c.scale {
					t.Fatalf("%s: %s = %v, want %v", c.name, x.Name, v, c.scale)
				}
			}
		}
	}
	// no_clip_input from skip_layers forces one layer's input off.
	ec := exportConfig()
	ec.ModelConfig.SkipLayers.NoClipInput = []string{names[0]}
	_, rep, err := QNNState(m.Weights, mk(7.5, 2), "tv7.json", ec, QNNOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NoClipInput) != 1 || rep.NoClipInput[0] != names[0] || rep.ClipOutput != numLinears {
		t.Errorf("no_clip_input: report %+v", rep)
	}
	var buf bytes.Buffer
	rep.Print(&buf)
	wantPrint := "clip input num: 28\nclip output num: 29\nno clip input num: 1\nno clip input: model.layers.0.self_attn.q_proj\nno clip output num: 0\n"
	if buf.String() != wantPrint {
		t.Errorf("printed:\n%s\nwant:\n%s", buf.String(), wantPrint)
	}
}

func TestQNNRejects(t *testing.T) {
	m := loadRotated(t)
	sf := readScales(t)
	ec := exportConfig()
	ec.QuantBias = true
	if _, _, err := QNNState(m.Weights, sf, scalePath, ec, QNNOptions{}); err == nil || !strings.Contains(err.Error(), "quant_bias") {
		t.Errorf("quant_bias: err = %v", err)
	}
	ec = exportConfig()
	ec.T01mClipThreshold = nil
	if _, _, err := QNNState(m.Weights, sf, scalePath, ec, QNNOptions{}); err == nil || !strings.Contains(err.Error(), "t01m_clip_threshold") {
		t.Errorf("missing threshold: err = %v", err)
	}
	// Q18 both directions.
	missing := readScales(t)
	gone := missing.Layers[3]
	missing.Layers = append(missing.Layers[:3:3], missing.Layers[4:]...)
	delete(missing.Ori, gone)
	delete(missing.Top01, gone)
	delete(missing.AllStat, gone)
	if _, _, err := QNNState(m.Weights, missing, "s.json", exportConfig(), QNNOptions{}); err == nil || !strings.Contains(err.Error(), gone) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("layer missing from the scale file: err = %v", err)
	}
	extra := readScales(t)
	extra.Layers = append(extra.Layers, "model.layers.9.mlp.up_proj")
	extra.Ori["model.layers.9.mlp.up_proj"] = calib.Range{Input: 1, Output: 1}
	extra.Top01["model.layers.9.mlp.up_proj"] = calib.Range{Input: 1, Output: 1}
	extra.AllStat["model.layers.9.mlp.up_proj"] = [2]calib.Stat{}
	if _, _, err := QNNState(m.Weights, extra, "s.json", exportConfig(), QNNOptions{}); err == nil || !strings.Contains(err.Error(), "model.layers.9.mlp.up_proj") {
		t.Errorf("extra layer in the scale file: err = %v", err)
	}
	// A NaN weight is named.
	w := m.Weights
	old := w.Layers[1].Up.W[5]
	w.Layers[1].Up.W[5] = float32(math.NaN())
	_, _, err := QNNState(w, sf, scalePath, exportConfig(), QNNOptions{})
	w.Layers[1].Up.W[5] = old
	if err == nil || !strings.Contains(err.Error(), "model.layers.1.mlp.up_proj.weight") {
		t.Errorf("NaN weight: err = %v", err)
	}
}

func TestLoadModelRejects(t *testing.T) {
	for _, c := range []struct {
		edit func(*config.ModelConfig)
		want string
	}{
		{func(m *config.ModelConfig) { m.ModelType = "qwen2-vl" }, "model_type"},
		{func(m *config.ModelConfig) { m.RandomRotate, m.RPath = true, "" }, "random_rotate"},
		{func(m *config.ModelConfig) { m.RPath = "" }, "R_path"},
		{func(m *config.ModelConfig) { m.RPath = "/nonexistent/R.bin" }, "R_path"},
		{func(m *config.ModelConfig) { m.ModelName = "/nonexistent/model" }, "model_name"},
	} {
		mc := modelConfig()
		c.edit(&mc)
		if _, err := LoadModel(mc, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %s, got %v", c.want, err)
		}
	}
}

// TV10: the .mllm bytes converter.py writes for a small QNN-like .pth.
func TestEncodeMLLMTV10(t *testing.T) {
	q := quant.TransposeInt8([]int8{50, -127, 0, 0, 2, -2}, 2, 3)
	s := State{
		tensor.FromBytes("a.weight", tensor.I8, []int{3, 2}, q),
		scalarF32("a.weight.scale", 0.01),
		tensor.FromFloat32("a.bias", []int{2}, []float32{1, -2}),
		scalarF32("a.input_scale", 3.5),
		scalarBool("a.clip_input", true),
		scalarBool("a.clip_output", false),
	}
	// The spec's 246-byte dump (toolchain spec §7 TV10).
	want, _ := hex.DecodeString("2c4e0000d20000000000000008000000612e7765696768740600000000000000" +
		"de00000000000000100000000e000000612e7765696768742e7363616c650400" +
		"000000000000e4000000000000000000000006000000612e6269617308000000" +
		"00000000e800000000000000000000000d000000612e696e7075745f7363616c" +
		"650400000000000000f000000000000000000000000c000000612e636c69705f" +
		"696e7075740100000000000000f400000000000000100000000d000000612e63" +
		"6c69705f6f75747075740100000000000000f500000000000000100000003200" +
		"810200fe0ad7233c0000803f000000c0000060400100")
	if len(want) != 246 {
		t.Fatalf("test vector is %d bytes, want 246", len(want))
	}
	if got := encode(t, s); !bytes.Equal(got, want) {
		t.Errorf("TV10:\n got % x\nwant % x", got, want)
	}
}

// The .pth reads back (pkg/pth) with the same keys, dtypes, shapes and bytes.
func TestWritePTHRoundTrip(t *testing.T) {
	m := loadRotated(t)
	s, _, err := QNNState(m.Weights, readScales(t), scalePath, exportConfig(), QNNOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "qnn.pth")
	if err := WritePTH(p, s); err != nil {
		t.Fatal(err)
	}
	f, err := pth.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := pth.StateDict(f.Root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(s) {
		t.Fatalf("%d tensors read back, wrote %d", len(got), len(s))
	}
	for i, g := range got {
		w := s[i]
		gb, err := g.Data()
		if err != nil {
			t.Fatal(err)
		}
		wb, _ := w.Data()
		if g.Name != w.Name || g.DType != w.DType || !sameShape(g.Shape, w.Shape) || !bytes.Equal(gb, wb) {
			t.Errorf("tensor %d: read %s %v %v, wrote %s %v %v", i, g.Name, g.DType, g.Shape, w.Name, w.DType, w.Shape)
		}
	}
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFormatFor(t *testing.T) {
	for _, c := range []struct {
		path, format string
		want         Format
		err          bool
	}{
		{"a/b.pth", "auto", PTH, false}, {"a/b.MLLM", "", MLLM, false}, {"b.bin", "mllm", MLLM, false},
		{"b.mllm", "pth", PTH, false}, {"b", "auto", PTH, false}, {"b.pth", "onnx", "", true},
	} {
		got, err := FormatFor(c.path, c.format)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("FormatFor(%q, %q) = %q, %v", c.path, c.format, got, err)
		}
	}
}
