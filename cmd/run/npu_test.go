package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/quant"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// writeNPUFiles writes an int8 NPU model and a Q4_K decode model of the
// bundled model into dir: weights quantized as exportqnn does, activation
// ranges from the absmax of every linear's input and bias-free output over
// a short FP32 run (clip flags 1), the decode model quantized by pkg/quant.
func writeNPUFiles(t *testing.T, dir string) (npu, dec string) {
	t.Helper()
	m, tok := loadTiny(t)
	type rng struct{ in, out float32 }
	ranges := map[string]*rng{}
	m.Hook = func(l *model.Linear, in, out []float32, rows int) {
		r := ranges[l.Name]
		if r == nil {
			r = &rng{}
			ranges[l.Name] = r
		}
		for _, v := range in {
			r.in = max(r.in, float32(math.Abs(float64(v))))
		}
		for j, v := range out {
			if l.B != nil {
				v -= l.B[j%l.Out]
			}
			r.out = max(r.out, float32(math.Abs(float64(v))))
		}
	}
	ids := tok.Encode("Sir Walter Elliot, of Kellynch Hall, in Somersetshire, was a man who, for his own amusement, never took up any book but the Baronetage.", false)
	if _, err := m.Forward(ids, nil); err != nil {
		t.Fatal(err)
	}
	m.Hook = nil
	scalar := func(v float32) []byte {
		b := make([]byte, 4)
		binary.LittleEndian.PutUint32(b, math.Float32bits(v))
		return b
	}
	type ent struct {
		name string
		dt   mllmfmt.DType
		b    []byte
	}
	var npuE, f32E []ent
	for _, nt := range m.W.StateDict() {
		f32E = append(f32E, ent{nt.Name, mllmfmt.F32, tensor.Float32Bytes(nt.Data)})
		base := strings.TrimSuffix(nt.Name, ".weight")
		if _, ok := ranges[base]; ok && base != "lm_head" && len(nt.Shape) == 2 {
			qT, s, err := quant.QuantizeLinearInt8(nt.Data, nt.Shape[0], nt.Shape[1], false)
			if err != nil {
				t.Fatal(err)
			}
			npuE = append(npuE, ent{nt.Name, mllmfmt.I8, qT}, ent{nt.Name + ".scale", mllmfmt.F32, scalar(s)})
			continue
		}
		npuE = append(npuE, ent{nt.Name, mllmfmt.F32, tensor.Float32Bytes(nt.Data)})
	}
	for _, l := range m.W.Linears() {
		r := ranges[l.Name]
		npuE = append(npuE, ent{l.Name + ".input_scale", mllmfmt.F32, scalar(r.in)}, ent{l.Name + ".output_scale", mllmfmt.F32, scalar(r.out)},
			ent{l.Name + ".clip_input", mllmfmt.I8, []byte{1}}, ent{l.Name + ".clip_output", mllmfmt.I8, []byte{1}})
	}
	write := func(path string, es []ent) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var names []string
		for _, e := range es {
			names = append(names, e.name)
		}
		w, err := mllmfmt.NewWriter(f, names)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if err := w.WriteTensor(e.name, e.dt, e.b); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	npu = filepath.Join(dir, "npu.mllm")
	f32 := filepath.Join(dir, "f32.mllm")
	dec = filepath.Join(dir, "q4k.mllm")
	write(npu, npuE)
	write(f32, f32E)
	in, err := mllmfmt.Open(f32)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := quant.QuantizeFile(in, out, mllmfmt.Q4_K, quant.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	return npu, dec
}

func TestNPUMode(t *testing.T) {
	dir := t.TempDir()
	npu, dec := writeNPUFiles(t, dir)
	common := []string{"-m", npu, "--decoding-model", dec, "--tokenizer", filepath.Join(tiny, "tokenizer.json"),
		"--config", filepath.Join(tiny, "config.json"), "-t", "2", "--chunk", "32"}

	t.Run("prompt", func(t *testing.T) {
		out, errs, err := runCmd(t, append(common, "--prompt", "Who is Anne?", "--max-new-tokens", "6", "-l", "96")...)
		if err != nil {
			t.Fatalf("%v\n%s", err, errs)
		}
		if strings.TrimSpace(out) == "" || !strings.Contains(errs, "decode") || !strings.Contains(errs, "prefill") {
			t.Fatalf("stdout %q stderr %q", out, errs)
		}
		// Seeded sampling is reproducible.
		args := append(common, "--prompt", "Who is Anne?", "--max-new-tokens", "6", "--temperature", "0.8", "--top-k", "20", "--top-p", "0.9", "--seed", "7")
		a, _, err := runCmd(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		b, _, _ := runCmd(t, args...)
		if a != b {
			t.Fatalf("seeded sampling differs: %q vs %q", a, b)
		}
	})
	t.Run("limits", func(t *testing.T) {
		_, _, err := runCmd(t, append(common, "--prompt", "Who is Anne?", "-l", "20")...)
		if err == nil || !strings.Contains(err.Error(), "--limits") {
			t.Fatalf("want a --limits error, got %v", err)
		}
	})
	t.Run("report", func(t *testing.T) {
		text := strings.Repeat("Anne Elliot was a young woman of unusual elegance of mind and sweetness of character. ", 12)
		path := filepath.Join(dir, "text.txt")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errs, err := runCmd(t, append(common, "--ppl", path, "--ctx", "48", "--max-windows", "2", "--reference", tiny, "--json", "--htp-rounding", "hvx", "--shadow-layers", "1")...)
		if err != nil {
			t.Fatalf("%v\n%s", err, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var js map[string]any
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &js); err != nil {
			t.Fatalf("last line is not JSON: %v\n%s", err, out)
		}
		if js["tokens"].(float64) != 2*47 {
			t.Errorf("tokens %v, want 94", js["tokens"])
		}
		fp := js["fp32"].(map[string]any)["ppl"].(float64)
		for _, k := range []string{"npu_prefill", "deployed_pair"} {
			c := js[k].(map[string]any)
			p, kl, top1 := c["ppl"].(float64), c["kl"].(float64), c["top1"].(float64)
			if !(p > 0) || math.Abs(p/fp-1) > 0.2 || !(kl >= 0 && kl < 0.2) || !(top1 > 0.7) {
				t.Errorf("%s: ppl %v (fp32 %v), kl %v, top1 %v", k, p, fp, kl, top1)
			}
		}
		if !strings.Contains(errs, "shadow layers [1]") || !strings.Contains(errs, "hvx") {
			t.Errorf("stderr does not describe the options: %s", errs)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"-m", npu, "--prompt", "x", "--config", filepath.Join(tiny, "config.json")},                      // no decoding model
			append(append([]string(nil), common...), "--prompt", "x", "--htp-rounding", "fast"),               // bad rounding
			append(append([]string(nil), common...), "--prompt", "x", "--shadow-layers", "9"),                 // out of range
			append(append([]string(nil), common...), "--prompt", "x", "--top-p", "1.5", "--temperature", "1"), // bad sampling
		} {
			if _, _, err := runCmd(t, args...); err == nil {
				t.Errorf("%v: no error", args)
			}
		}
	})
}
