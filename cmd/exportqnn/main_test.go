package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// writeConfig writes an mllm config for the bundled model; edit changes
// export_config before it is written.
func writeConfig(t *testing.T, dir string, edit func(ec map[string]any)) string {
	t.Helper()
	mc := func() map[string]any {
		return map[string]any{
			"model_type": "qwen2", "tokenizer_name": abs(t, "../../testdata/tinyqwen2"),
			"model_name": abs(t, "../../testdata/tinyqwen2"), "online_rotation": true,
			"R_path": abs(t, "../../testdata/rotate/R-seed3.bin"),
		}
	}
	ec := map[string]any{
		"scale_file":          abs(t, "../../testdata/export/tinyqwen2-scales.json"),
		"output_model":        filepath.Join(dir, "from-config.pth"),
		"t01m_clip_threshold": 64,
		"quant_bias":          false,
		"model_config":        mc(),
	}
	if edit != nil {
		edit(ec)
	}
	pmc := mc()
	// validate_config reads online_rotation from the profile section.
	pmc["online_rotation"] = ec["model_config"].(map[string]any)["online_rotation"]
	cfg := map[string]any{
		"profile_config": map[string]any{
			"dataset_path": dir, "output_path": filepath.Join(dir, "s.json"), "num_samples": 2, "no_bias": true,
			"model_config": pmc,
		},
		"export_config": ec,
	}
	b, _ := json.Marshal(cfg)
	p := filepath.Join(dir, "cfg.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExportQNNCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, nil)
	// Default output: export_config.output_model, a .pth.
	if err := newCommand().Run(context.Background(), []string{"exportqnn", "--config_file", cfg}); err != nil {
		t.Fatal(err)
	}
	f, err := pth.Open(filepath.Join(dir, "from-config.pth"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := pth.StateDict(f.Root)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// --output_model with .mllm: same keys, converter dtype codes.
	out := filepath.Join(dir, "sub", "qnn.mllm")
	if err := newCommand().Run(context.Background(), []string{"exportqnn", "--config_file", cfg, "--output_model", out}); err != nil {
		t.Fatal(err)
	}
	m, err := mllmfmt.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.Entries) != len(ts) {
		t.Fatalf(".mllm has %d tensors, .pth %d", len(m.Entries), len(ts))
	}
	for i, e := range m.Entries {
		want := mllmfmt.F32
		if ts[i].DType == tensor.I8 || ts[i].DType == tensor.Bool {
			want = mllmfmt.I8
		}
		if e.Name != ts[i].Name || e.DType != want || int64(e.Size) != ts[i].NumBytes() {
			t.Errorf("entry %d: %s %v %d bytes; .pth has %s %v %d bytes", i, e.Name, e.DType, e.Size, ts[i].Name, ts[i].DType, ts[i].NumBytes())
		}
	}
	// --format mllm wins over the extension.
	forced := filepath.Join(dir, "forced.bin")
	if err := newCommand().Run(context.Background(), []string{"exportqnn", "--config_file", cfg, "--output_model", forced, "--format", "mllm"}); err != nil {
		t.Fatal(err)
	}
	if _, err := mllmfmt.Open(forced); err != nil {
		t.Errorf("--format mllm: %v", err)
	}
}

func TestExportQNNCommandErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		what string
		edit func(ec map[string]any)
		args []string
		want string
	}{
		{"quant_bias", func(ec map[string]any) {
			ec["quant_bias"] = true
			ec["model_config"].(map[string]any)["online_rotation"] = false
		}, nil, "int32 bias quantization is not supported"},
		{"missing scale file", func(ec map[string]any) { ec["scale_file"] = filepath.Join(dir, "nope.json") }, nil, "nope.json"},
		{"bad format", nil, []string{"--format", "onnx"}, "onnx"},
	} {
		cfg := writeConfig(t, dir, c.edit)
		args := append([]string{"exportqnn", "--config_file", cfg}, c.args...)
		err := newCommand().Run(context.Background(), args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one naming %q", c.what, err, c.want)
		}
		if _, serr := os.Stat(filepath.Join(dir, "from-config.pth")); serr == nil {
			t.Errorf("%s: an output was written", c.what)
		}
	}
}
