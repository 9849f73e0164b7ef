package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qnnkit/qnnkit/pkg/calib"
)

func buildProfile(t *testing.T, dir string) string {
	t.Helper()
	exe := filepath.Join(dir, "profile")
	out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

func writeConfig(t *testing.T, dir string, n int) string {
	t.Helper()
	abs := func(p string) string {
		a, err := filepath.Abs(filepath.Join("../..", p))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	js := fmt.Sprintf(`{
  "profile_config": {
    "dataset_path": %q, "output_path": %q, "num_samples": %d, "no_bias": true,
    "model_config": {"model_type": "qwen2", "tokenizer_name": %q, "model_name": %q}
  },
  "export_config": {
    "scale_file": %q, "output_model": "x.pth", "t01m_clip_threshold": 64,
    "model_config": {"model_type": "qwen2", "tokenizer_name": %q, "model_name": %q}
  }
}`, abs("testdata/calib/small"), filepath.Join(dir, "scale.json"), n, abs("testdata/tinyqwen2"), abs("testdata/tinyqwen2"),
		filepath.Join(dir, "scale.json"), abs("testdata/tinyqwen2"), abs("testdata/tinyqwen2"))
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A real SIGKILL of the built binary in the middle of a run, then
// --resume, gives the clean run's bytes; --shard and --merge too.
func TestSigkillResumeAndMergeCLI(t *testing.T) {
	dir := t.TempDir()
	exe := buildProfile(t, dir)
	cfg := writeConfig(t, dir, 10)
	out := filepath.Join(dir, "scale.json")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(exe, args...)
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		if err := cmd.Run(); err != nil {
			t.Fatalf("profile %v: %v\n%s", args, err, se.String())
		}
		return so.String()
	}
	so := run("--config_file", cfg, "--quiet")
	if !strings.Contains(so, "scale file: "+out) || !strings.Contains(so, "plot: ") {
		t.Fatalf("stdout: %s", so)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "scale.png")); err != nil {
		t.Fatalf("plot not written: %v", err)
	}
	os.Remove(out)

	stats := filepath.Join(dir, "killed.stats")
	cmd := exec.Command(exe, "--config_file", cfg, "--quiet", "--stats-out", stats, "--plot", "none")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(stats); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no checkpoint appeared")
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	_, m, err := calib.LoadStats(stats)
	if err != nil {
		t.Fatalf("checkpoint after SIGKILL: %v", err)
	}
	if m.Complete() {
		t.Fatalf("the run finished before it could be killed (next %d of %d)", m.Next, m.To)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("killed run wrote the scale JSON")
	}
	t.Logf("killed after %d of %d samples", m.Next, m.To)
	run("--config_file", cfg, "--quiet", "--stats-out", stats, "--resume", "--plot", "none")
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Fatal("resumed JSON differs from the clean run")
	}
	os.Remove(out)

	var shards []string
	for i := range 2 {
		p := filepath.Join(dir, fmt.Sprintf("s%d.stats", i))
		run("--config_file", cfg, "--quiet", "--shard", fmt.Sprintf("%d/2", i), "--stats-out", p)
		shards = append(shards, p)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a shard wrote the scale JSON")
	}
	merged := filepath.Join(dir, "merged.json")
	run("--merge", shards[1], shards[0], "-o", merged, "--plot", filepath.Join(dir, "merged.svg"))
	if got, _ := os.ReadFile(merged); !bytes.Equal(got, want) {
		t.Fatal("merged JSON differs from the clean run")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "merged.svg")); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Fatalf("svg plot: %v", err)
	}
}

func TestParseShard(t *testing.T) {
	for _, c := range []struct {
		in   string
		i, n int
		ok   bool
	}{{"0/1", 0, 1, true}, {"2/3", 2, 3, true}, {"3/3", 0, 0, false}, {"-1/2", 0, 0, false}, {"1", 0, 0, false}, {"a/b", 0, 0, false}, {"0/0", 0, 0, false}} {
		i, n, err := parseShard(c.in)
		if (err == nil) != c.ok || (c.ok && (i != c.i || n != c.n)) {
			t.Errorf("parseShard(%q) = %d, %d, %v", c.in, i, n, err)
		}
	}
}

func TestShortName(t *testing.T) {
	for in, want := range map[string]string{
		"model.layers.12.self_attn.q_proj": "12.q",
		"model.layers.3.mlp.down_proj":     "3.down",
		"lm_head":                          "lm_head",
	} {
		if got := shortName(in); got != want {
			t.Errorf("shortName(%q) = %q, want %q", in, got, want)
		}
	}
}

// A random_rotate run without --seed records the seed it drew in the
// manifest, and --seed with that value reproduces its rotation and scales.
func TestDrawnSeedInManifest(t *testing.T) {
	dir := t.TempDir()
	exe := buildProfile(t, dir)
	cfg := writeConfig(t, dir, 2)
	js, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) (scale, rfile []byte, seed *uint64) {
		t.Helper()
		sub := filepath.Join(dir, name)
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		c := strings.Replace(string(js), `"tokenizer_name"`, fmt.Sprintf(`"online_rotation": true, "random_rotate": true, "save_rotation": %q, "tokenizer_name"`, filepath.Join(sub, "R.bin")), 1)
		c = strings.Replace(c, filepath.Join(dir, "scale.json"), filepath.Join(sub, "scale.json"), 1)
		p := filepath.Join(sub, "config.json")
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(exe, append([]string{"--config_file", p, "--quiet", "--plot", "none"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("profile %v: %v\n%s", args, err, out)
		}
		read := func(f string) []byte {
			b, err := os.ReadFile(filepath.Join(sub, f))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		var m struct {
			Seed *uint64 `json:"seed"`
		}
		if err := json.Unmarshal(read("scale.json.manifest.json"), &m); err != nil {
			t.Fatal(err)
		}
		return read("scale.json"), read("R.bin"), m.Seed
	}
	s1, r1, seed := run("drawn")
	if seed == nil {
		t.Fatal("the manifest of a run without --seed records no seed")
	}
	s2, r2, seed2 := run("again", "--seed", fmt.Sprint(*seed))
	if seed2 == nil || *seed2 != *seed {
		t.Fatalf("manifest seed %v with --seed %d", seed2, *seed)
	}
	if !bytes.Equal(r1, r2) || !bytes.Equal(s1, s2) {
		t.Fatalf("--seed %d (from the manifest) does not reproduce the run: R file equal %v, scale JSON equal %v", *seed, bytes.Equal(r1, r2), bytes.Equal(s1, s2))
	}
}
