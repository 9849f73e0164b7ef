package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/manifest"
)

// The pipeline on the bundled model (testdata/repro.json: random_rotate
// with profile --seed 7, 2 calibration samples), run in a work directory
// whose testdata is a link to the repository's; every path is relative, as
// a user would give them.
var (
	pipeOnce sync.Once
	pipeDir  string
	pipeErr  string
)

// pipelineOutputs are the files the pipeline must produce under out/tinyqwen2.
var pipelineOutputs = []string{
	"scales.json", "R/R.bin", "npu.mllm", "rot.mllm", "q4k.mllm", "vocab.mllm", "vocab.mllm.merges.txt", "hf.mllm",
}

// pipeline returns the directory of a finished pipeline run (shared by the
// tests; run once).
func pipeline(t *testing.T) string {
	t.Helper()
	pipeOnce.Do(func() {
		dir := filepath.Join(e.tmp, "pipeA")
		if msg := runPipeline(t, dir); msg != "" {
			pipeErr = msg
			return
		}
		pipeDir = dir
	})
	if pipeDir == "" {
		t.Fatalf("pipeline: %s", pipeErr)
	}
	return pipeDir
}

// runPipeline runs every stage in dir and returns "" or what failed.
func runPipeline(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "configs"), 0o755); err != nil {
		return err.Error()
	}
	if err := os.Symlink(filepath.Join(e.repo, "testdata"), filepath.Join(dir, "testdata")); err != nil {
		return err.Error()
	}
	cfg, err := os.ReadFile("testdata/repro.json")
	if err != nil {
		return err.Error()
	}
	if err := os.WriteFile(filepath.Join(dir, "configs", "repro.json"), cfg, 0o644); err != nil {
		return err.Error()
	}
	const c = "configs/repro.json"
	for _, s := range [][]string{
		{"profile", "--config_file", c, "--seed", "7", "-q"},
		{"exportqnn", "--config_file", c, "--output_model", "out/tinyqwen2/npu.mllm"},
		{"exportrot", "--config_file", c, "--output_model", "out/tinyqwen2/rot.mllm"},
		{"quantize", "--quiet", "out/tinyqwen2/rot.mllm", "out/tinyqwen2/q4k.mllm", "Q4_K"},
		{"convert", "--type=vocab", "--input_model", "testdata/tinyqwen2/tokenizer.json", "--output_model", "out/tinyqwen2/vocab.mllm"},
		{"convert", "--type", "safetensor", "--input_model", "testdata/tinyqwen2/model.safetensors", "--output_model", "out/tinyqwen2/hf.mllm"},
	} {
		r := runBin(t, dir, s[0], s[1:]...)
		if r.code != 0 {
			return s[0] + " failed: " + tail(r.stderr, 2000)
		}
	}
	return ""
}

// snapshot maps every regular file under dir to its SHA-256.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, f := range regularFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		m[f] = hex.EncodeToString(h[:])
	}
	return m
}

// TestReproducible runs the pipeline twice, in two work directories, with
// identical inputs and relative paths: every output and every manifest
// must be byte-identical, and each manifest must describe its run.
func TestReproducible(t *testing.T) {
	a := pipeline(t)
	b := filepath.Join(t.TempDir(), "pipeB")
	if msg := runPipeline(t, b); msg != "" {
		t.Fatal(msg)
	}
	outA, outB := filepath.Join(a, "out"), filepath.Join(b, "out")
	sa, sb := snapshot(t, outA), snapshot(t, outB)
	for _, o := range pipelineOutputs {
		for _, f := range []string{o, o + manifest.Suffix} {
			if _, ok := sa["tinyqwen2/"+f]; !ok {
				t.Errorf("run A has no out/tinyqwen2/%s", f)
			}
		}
	}
	if len(sa) != len(sb) {
		t.Errorf("run A wrote %d files, run B %d", len(sa), len(sb))
	}
	for f, h := range sa {
		if sb[f] != h {
			t.Errorf("out/%s differs between the two runs", f)
		}
	}

	// Each manifest describes its run: hashes of the real outputs, the
	// inputs it read, the config and the seed.
	for _, o := range pipelineOutputs {
		p := filepath.Join(outA, "tinyqwen2", o+manifest.Suffix)
		m, err := manifest.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		if m.Version == "" || m.Tool == "" || len(m.Args) == 0 || len(m.Inputs) == 0 {
			t.Errorf("%s: incomplete manifest %+v", p, m)
		}
		found := false
		for _, f := range m.Outputs {
			if f.SHA256 != sa[relOut(f.Path)] {
				t.Errorf("%s: output %s sha256 %s does not match the file", p, f.Path, f.SHA256)
			}
			found = found || f.Path == "out/tinyqwen2/"+o
		}
		if !found {
			t.Errorf("%s: does not list out/tinyqwen2/%s among %v", p, o, m.Outputs)
		}
		for _, in := range m.Inputs {
			if filepath.IsAbs(in.Path) {
				t.Errorf("%s: input path %s is absolute", p, in.Path)
			}
			b, err := os.ReadFile(filepath.Join(a, in.Path))
			if err != nil {
				t.Fatal(err)
			}
			if h := sha256.Sum256(b); hex.EncodeToString(h[:]) != in.SHA256 {
				t.Errorf("%s: input %s sha256 does not match the file", p, in.Path)
			}
		}
	}
	prof, err := manifest.Read(filepath.Join(outA, "tinyqwen2", "scales.json"+manifest.Suffix))
	if err != nil {
		t.Fatal(err)
	}
	if prof.Tool != "profile" || prof.Seed == nil || *prof.Seed != 7 || !bytes.Contains(prof.Config, []byte(`"save_rotation": "out/tinyqwen2/R/R.bin"`)) {
		t.Errorf("profile manifest: tool %q seed %v config %s", prof.Tool, prof.Seed, prof.Config)
	}
	if !slices.Contains(prof.Args, "--seed=7") {
		t.Errorf("profile manifest args %v lack --seed=7", prof.Args)
	}
	roles := func(m *manifest.Manifest) []string {
		var r []string
		for _, in := range m.Inputs {
			if !slices.Contains(r, in.Role) {
				r = append(r, in.Role)
			}
		}
		return r
	}
	for _, w := range []struct {
		file  string
		roles []string
	}{
		{"scales.json", []string{"config", "checkpoint", "tokenizer", "dataset"}},
		{"npu.mllm", []string{"config", "checkpoint", "R_path", "scale_file"}},
		{"rot.mllm", []string{"config", "checkpoint", "R_path"}},
		{"q4k.mllm", []string{"input"}},
		{"vocab.mllm", []string{"tokenizer"}},
		{"hf.mllm", []string{"checkpoint"}},
	} {
		m, err := manifest.Read(filepath.Join(outA, "tinyqwen2", w.file+manifest.Suffix))
		if err != nil {
			t.Fatal(err)
		}
		if got := roles(m); !slices.Equal(got, w.roles) {
			t.Errorf("%s manifest: input roles %v, want %v", w.file, got, w.roles)
		}
	}
}

// relOut maps a manifest output path ("out/tinyqwen2/x") to its snapshot
// key ("tinyqwen2/x").
func relOut(p string) string {
	rel, err := filepath.Rel("out", p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(rel)
}
