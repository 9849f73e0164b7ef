package profile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/calib"
	"github.com/qnnkit/qnnkit/pkg/config"
)

const repo = "../../../"

// testConfig builds a config over the bundled model and the small
// calibration fixture, writing into dir.
func testConfig(t *testing.T, dir string, n int, rotation string) *config.Config {
	t.Helper()
	js := fmt.Sprintf(`{
  "profile_config": {
    "dataset_path": %q, "output_path": %q, "num_samples": %d, "no_bias": true,
    "model_config": {"model_type": "qwen2", "tokenizer_name": %q, "model_name": %q %s}
  },
  "export_config": {
    "scale_file": "x.json", "output_model": "x.pth", "t01m_clip_threshold": 64,
    "model_config": {"model_type": "qwen2", "tokenizer_name": %q, "model_name": %q}
  }
}`, repo+"testdata/calib/small", filepath.Join(dir, "scale.json"), n,
		repo+"testdata/tinyqwen2", repo+"testdata/tinyqwen2", rotation,
		repo+"testdata/tinyqwen2", repo+"testdata/tinyqwen2")
	c, err := config.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func runOK(t *testing.T, o Options) *Result {
	t.Helper()
	r, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A run stopped after K samples and resumed from its checkpoint, and a
// run split into shards and merged, give the single run's bytes.
func TestResumeAndShardsMatchSingleRun(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, 5, "")
	full := runOK(t, Options{Config: cfg})
	if full.Scale == nil || full.Samples != 5 || full.Meta.Next != 5 {
		t.Fatalf("full run: %+v", full)
	}
	want := readFile(t, cfg.Profile.OutputPath)
	if sf, err := calib.ParseScaleJSON(want); err != nil || len(sf.Layers) != 29 || sf.Layers[28] != "lm_head" {
		t.Fatalf("scale JSON: %v", err)
	}
	os.Remove(cfg.Profile.OutputPath)

	for _, k := range []int{2} {
		stats := filepath.Join(dir, fmt.Sprintf("resume%d.stats", k))
		r := runOK(t, Options{Config: cfg, StatsPath: stats, StopAfter: k})
		if r.Scale != nil || r.Meta.Next != k {
			t.Fatalf("stopped run: next %d", r.Meta.Next)
		}
		if _, err := os.Stat(cfg.Profile.OutputPath); err == nil {
			t.Fatal("a stopped run must not write the scale JSON")
		}
		r = runOK(t, Options{Config: cfg, StatsPath: stats, Resume: true})
		if r.Recorded != 5-k {
			t.Fatalf("resumed run recorded %d samples, want %d", r.Recorded, 5-k)
		}
		if got := readFile(t, cfg.Profile.OutputPath); !bytes.Equal(got, want) {
			t.Fatalf("resume after %d samples: JSON differs", k)
		}
		os.Remove(cfg.Profile.OutputPath)
	}

	var files []string
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("shard%d.stats", i))
		r := runOK(t, Options{Config: cfg, StatsPath: p, Shard: i, Shards: 3})
		if r.Scale != nil {
			t.Fatal("a shard must not produce the scale JSON")
		}
		files = append(files, p)
	}
	st, _, err := calib.MergeStatsFiles([]string{files[2], files[0], files[1]})
	if err != nil {
		t.Fatal(err)
	}
	sf, err := st.Result()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	sf.WriteJSON(&b)
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatal("merged shards: JSON differs from the single run")
	}

	// a checkpoint of another plan is refused
	stats := filepath.Join(dir, "resume2.stats")
	if _, err := Run(Options{Config: cfg, StatsPath: stats, Resume: true, AbsMax: true}); err == nil || !strings.Contains(err.Error(), "different run") {
		t.Fatalf("absmax resume of a signed checkpoint: %v", err)
	}
	if _, err := Run(Options{Config: cfg, StatsPath: files[0], Resume: true, Shard: 1, Shards: 3}); err == nil {
		t.Fatal("resuming shard 1 from shard 0's file must fail")
	}
}

// random_rotate without a seed: the resumed run reloads the saved rotation,
// and its result equals a run with R_path = that file.
func TestRandomRotateResume(t *testing.T) {
	dir := t.TempDir()
	rfile := filepath.Join(dir, "R.bin")
	cfg := testConfig(t, dir, 3, fmt.Sprintf(`, "online_rotation": true, "random_rotate": true, "save_rotation": %q`, rfile))
	r := runOK(t, Options{Config: cfg, StopAfter: 1})
	if r.RotationSaved != rfile {
		t.Fatalf("rotation saved to %q", r.RotationSaved)
	}
	runOK(t, Options{Config: cfg, Resume: true})
	resumed := readFile(t, cfg.Profile.OutputPath)

	cfg2 := testConfig(t, filepath.Join(dir, "b"), 3, fmt.Sprintf(`, "online_rotation": true, "R_path": %q`, rfile))
	runOK(t, Options{Config: cfg2})
	if !bytes.Equal(readFile(t, cfg2.Profile.OutputPath), resumed) {
		t.Fatal("resumed random-rotation run differs from a run with R_path = the saved rotation")
	}
	if _, err := Run(Options{Config: cfg, Shards: 2}); err == nil || !strings.Contains(err.Error(), "--seed") {
		t.Fatalf("shards of random_rotate without seed: %v", err)
	}
}

func TestTooFewSamples(t *testing.T) {
	cfg := testConfig(t, t.TempDir(), 11, "")
	if _, err := Run(Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "val.jsonl.zst has 10 samples, num_samples is 11") {
		t.Fatalf("err = %v", err)
	}
	cfg.Profile.ModelType = "qwen2-vl"
	if _, err := Run(Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("qwen2-vl: err = %v", err)
	}
}
