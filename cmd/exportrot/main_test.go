package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestExportRotCommand(t *testing.T) {
	dir := t.TempDir()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	mc := map[string]any{
		"model_type": "qwen2", "tokenizer_name": abs("../../testdata/tinyqwen2"),
		"model_name": abs("../../testdata/tinyqwen2"), "online_rotation": true,
		"R_path": abs("../../testdata/rotate/R-seed3.bin"),
	}
	cfg := map[string]any{
		"profile_config": map[string]any{"dataset_path": dir, "output_path": filepath.Join(dir, "s.json"), "num_samples": 2, "no_bias": true, "model_config": mc},
		"export_config":  map[string]any{"scale_file": filepath.Join(dir, "s.json"), "output_model": filepath.Join(dir, "qnn.pth"), "t01m_clip_threshold": 64, "model_config": mc},
	}
	b, _ := json.Marshal(cfg)
	cp := filepath.Join(dir, "cfg.json")
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "rot.mllm")
	if err := newCommand().Run(context.Background(), []string{"exportrot", "--config_file", cp, "--output_model", out}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../testdata/quant/tinyqwen2-rot-f32.mllm")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("exportrot .mllm differs from mllm's tinyqwen2-rot-f32.mllm")
	}
	// --output_model keeps exportqnn's default path free (quirk Q9).
	if _, err := os.Stat(filepath.Join(dir, "qnn.pth")); err == nil {
		t.Error("exportrot wrote export_config.output_model although --output_model was given")
	}
	// Without --output_model it writes export_config.output_model (a .pth).
	if err := newCommand().Run(context.Background(), []string{"exportrot", "--config_file", cp}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "qnn.pth")); err != nil || len(b) < 4 || string(b[:2]) != "PK" {
		t.Errorf("default output is not a torch zip file: %v", err)
	}
}
