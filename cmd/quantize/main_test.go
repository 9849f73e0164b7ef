package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuantizeCommand(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/quant/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Files map[string]struct {
			SHA256 string `json:"sha256"`
		} `json:"files"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sub", "q40.mllm")
	args := []string{"quantize", "--quiet", "../../testdata/quant/tinyqwen2-rot-f32.mllm", out, "Q4_0"}
	if err := newCommand().Run(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != g.Files["Q4_0"].SHA256 {
		t.Error("quantize Q4_0 output differs from mllm's file")
	}
	for _, bad := range [][]string{
		{"quantize", "in.mllm", "out.mllm"},
		{"quantize", "../../testdata/quant/tinyqwen2-rot-f32.mllm", out, "Q5_K"},
		{"quantize", filepath.Join(t.TempDir(), "missing.mllm"), out, "Q4_K"},
	} {
		if err := newCommand().Run(context.Background(), bad); err == nil {
			t.Errorf("%s: accepted", strings.Join(bad, " "))
		}
	}
}
