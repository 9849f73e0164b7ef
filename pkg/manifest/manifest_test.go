package manifest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v3"
)

// runCmd parses args with a small command and returns the manifest New
// builds from it.
func runCmd(t *testing.T, args ...string) *Manifest {
	t.Helper()
	var m *Manifest
	cmd := &cli.Command{
		Name: "tool",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config_file", Aliases: []string{"c"}},
			&cli.BoolFlag{Name: "quiet"},
			&cli.Uint64Flag{Name: "seed"},
		},
		Action: func(_ context.Context, cmd *cli.Command) error {
			m = New(cmd)
			return nil
		},
	}
	if err := cmd.Run(context.Background(), append([]string{"tool"}, args...)); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestArgsNormalized(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--seed", "3", "-c", "a.json", "x", "y"}, []string{"--config_file=a.json", "--seed=3", "x", "y"}},
		{[]string{"--config_file=a.json", "--seed=3", "x", "y"}, []string{"--config_file=a.json", "--seed=3", "x", "y"}},
		{[]string{"--quiet", "in"}, []string{"--quiet=true", "in"}},
		{nil, nil},
	} {
		m := runCmd(t, tc.args...)
		if !slices.Equal(m.Args, tc.want) {
			t.Errorf("%q: args %q, want %q", tc.args, m.Args, tc.want)
		}
		if m.Tool != "tool" || !strings.HasPrefix(m.Version, "qnnkit "+Release) {
			t.Errorf("tool %q version %q", m.Tool, m.Version)
		}
	}
}

func TestWriteDeterministic(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := write("cfg.json", `{"a": [1, 2], "b": "x"}`)
	write("model/config.json", "{}")
	write("model/model.safetensors", "weights")
	write("model/.hidden", "editor state")
	idx := write("sharded/model.safetensors.index.json", `{"weight_map": {"a": "s-2.safetensors", "b": "s-1.safetensors", "c": "s-2.safetensors"}}`)
	write("sharded/s-1.safetensors", "one")
	write("sharded/s-2.safetensors", "two")
	out1 := write("out/a.mllm", "output one")
	out2 := write("out/b.txt", "output two")

	var got [][]byte
	for i := 0; i < 2; i++ {
		m := runCmd(t, "--seed", "9", "x")
		seed := uint64(9)
		m.Seed = &seed
		if err := m.SetConfig(cfg); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{filepath.Join(dir, "model"), idx} {
			if err := m.AddCheckpoint(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Commit(out1, out2); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(out1 + Suffix)
		b, _ := os.ReadFile(out2 + Suffix)
		if !bytes.Equal(a, b) {
			t.Fatalf("the two outputs' manifests differ")
		}
		got = append(got, a)
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Fatalf("two identical runs wrote different manifests:\n%s\n%s", got[0], got[1])
	}
	m, err := Read(out1 + Suffix)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range m.Inputs {
		paths = append(paths, strings.TrimPrefix(f.Path, dir+"/"))
	}
	want := []string{"cfg.json", "model/config.json", "model/model.safetensors", "sharded/model.safetensors.index.json", "sharded/s-1.safetensors", "sharded/s-2.safetensors"}
	if !slices.Equal(paths, want) {
		t.Errorf("inputs %q, want %q", paths, want)
	}
	// sha256("weights")
	if m.Inputs[2].SHA256 != "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c" || m.Inputs[2].Size != 7 || m.Inputs[2].Role != "checkpoint" {
		t.Errorf("model.safetensors: %+v", m.Inputs[2])
	}
	if len(m.Outputs) != 2 || m.Outputs[0].Size != int64(len("output one")) || m.Seed == nil || *m.Seed != 9 {
		t.Errorf("outputs %+v seed %v", m.Outputs, m.Seed)
	}
	if !bytes.Contains(m.Config, []byte(`"b": "x"`)) {
		t.Errorf("config %s", m.Config)
	}
	if stray, _ := filepath.Glob(filepath.Join(dir, "out", ".*.tmp-*")); len(stray) > 0 {
		t.Errorf("stray temporary files %v", stray)
	}
}

func TestMissingInput(t *testing.T) {
	m := runCmd(t)
	err := m.AddInput("scale_file", filepath.Join(t.TempDir(), "none.json"))
	if err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Fatalf("want an error naming the file, got %v", err)
	}
}

// Start+Finish (inputs hashed in the background) writes the manifest Write
// writes, and an output hashed while written is recorded as given, not
// read back.
func TestStartFinishAndHashedOutputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bin")
	out := filepath.Join(dir, "out.bin")
	for p, data := range map[string]string{in: "input", out: "output"} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(action func(cmd *cli.Command) error) []byte {
		cmd := &cli.Command{Name: "tool", Action: func(_ context.Context, cmd *cli.Command) error { return action(cmd) }}
		if err := cmd.Run(context.Background(), []string{"tool"}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out + Suffix)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r := Run{Inputs: []Input{{Role: "input", Path: in}}}
	want := run(func(cmd *cli.Command) error { return Write(cmd, r, out) })
	got := run(func(cmd *cli.Command) error { return Start(cmd, r).Finish(out) })
	if !bytes.Equal(got, want) {
		t.Errorf("Start+Finish wrote\n%s\nWrite wrote\n%s", got, want)
	}
	m, err := Read(out + Suffix)
	if err != nil {
		t.Fatal(err)
	}
	hashed := m.Outputs[0]
	if hashed.Size != 6 || len(hashed.SHA256) != 64 {
		t.Fatalf("output %+v", hashed)
	}
	// A hash given for the output is used as is (the file is not read).
	if err := os.WriteFile(out, []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		action func(cmd *cli.Command) error
	}{
		{"Run.Hashed", func(cmd *cli.Command) error {
			r := r
			r.Hashed = []File{hashed}
			return Write(cmd, r, out)
		}},
		{"Pending.SetOutputHash", func(cmd *cli.Command) error {
			p := Start(cmd, r)
			p.SetOutputHash(out, hashed.Size, hashed.SHA256)
			return p.Finish(out)
		}},
	} {
		if got := run(c.action); !bytes.Equal(got, want) {
			t.Errorf("%s: manifest\n%s\nwant\n%s", c.name, got, want)
		}
	}
	bad := &cli.Command{Name: "tool", Action: func(_ context.Context, cmd *cli.Command) error {
		return Start(cmd, Run{Inputs: []Input{{Role: "input", Path: filepath.Join(dir, "missing")}}}).Finish(out)
	}}
	if err := bad.Run(context.Background(), []string{"tool"}); err == nil || !strings.Contains(err.Error(), "manifest: input") {
		t.Errorf("missing input: err = %v", err)
	}
}

// An input with its own manifest, written after the file last changed, is
// not read again: the recorded hash is used. A change to the file after
// its manifest (or a size that differs) makes it hashed again.
func TestRecordedInputHash(t *testing.T) {
	if _, ok := changeTime(mustStat(t, t.TempDir())); !ok {
		t.Skip("no ctime on this OS: recorded hashes are never reused")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "model.bin")
	if err := os.WriteFile(in, []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	real := sha256.Sum256([]byte("weights"))
	// A recorded hash that is not the content's, to see which one is used.
	recorded := strings.Repeat("ab", 32)
	writeSidecar := func(size int64, mtime time.Time) {
		t.Helper()
		m := Manifest{Tool: "exportrot", Outputs: []File{{Path: "some/dir/model.bin", Size: size, SHA256: recorded}}}
		b, _ := json.Marshal(m)
		if err := os.WriteFile(in+Suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(in+Suffix, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for _, c := range []struct {
		name  string
		size  int64
		mtime time.Time
		want  string
	}{
		{"manifest after the file", 7, now.Add(time.Hour), recorded},
		{"manifest before the file's last change", 7, now.Add(-time.Hour), hex.EncodeToString(real[:])},
		{"size differs", 8, now.Add(time.Hour), hex.EncodeToString(real[:])},
	} {
		writeSidecar(c.size, c.mtime)
		f, err := hashFile("input", in, nil)
		if err != nil {
			t.Fatal(err)
		}
		if f.SHA256 != c.want || f.Size != 7 {
			t.Errorf("%s: hash %s size %d, want %s size 7", c.name, f.SHA256, f.Size, c.want)
		}
	}
}

func mustStat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestHashWriter: the digest of writes small and large (hashed
// concurrently) equals the digest of the bytes.
func TestHashWriter(t *testing.T) {
	var out bytes.Buffer
	hw := NewHashWriter(&out)
	data := bytes.Repeat([]byte("qnnkit"), 400_000) // 2.4 MB
	for _, n := range []int{10, concurrentHashMin + 5, 3} {
		if _, err := hw.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
	}
	size, sum, ok := hw.Sum()
	want := sha256.Sum256(out.Bytes())
	if !ok || size != int64(out.Len()) || sum != hex.EncodeToString(want[:]) {
		t.Fatalf("Sum %d %s %v, want %d %x", size, sum, ok, out.Len(), want)
	}
}

// TestUpstreamInputHash: a checkpoint file listed among the inputs of the
// manifest next to another input of the run (profile's, next to the scale
// file) is not read again when that manifest was written after the file
// last changed, records its size, and names the same file.
func TestUpstreamInputHash(t *testing.T) {
	if _, ok := changeTime(mustStat(t, t.TempDir())); !ok {
		t.Skip("no ctime on this OS: recorded hashes are never reused")
	}
	dir := t.TempDir()
	ck := filepath.Join(dir, "model.bin")
	other := filepath.Join(t.TempDir(), "model.bin") // same name, another file
	scales := filepath.Join(dir, "scales.json")
	for _, p := range []string{ck, other, scales} {
		if err := os.WriteFile(p, []byte("weights"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	real := sha256.Sum256([]byte("weights"))
	recorded := strings.Repeat("cd", 32)
	now := time.Now()
	for _, c := range []struct {
		name  string
		entry File
		mtime time.Time
		want  string
	}{
		{"same file, manifest after it", File{Path: ck, Size: 7, SHA256: recorded}, now.Add(time.Hour), recorded},
		{"manifest before the file's last change", File{Path: ck, Size: 7, SHA256: recorded}, now.Add(-time.Hour), hex.EncodeToString(real[:])},
		{"size differs", File{Path: ck, Size: 8, SHA256: recorded}, now.Add(time.Hour), hex.EncodeToString(real[:])},
		{"another file of the same name", File{Path: other, Size: 7, SHA256: recorded}, now.Add(time.Hour), hex.EncodeToString(real[:])},
		{"not a SHA-256", File{Path: ck, Size: 7, SHA256: "cd"}, now.Add(time.Hour), hex.EncodeToString(real[:])},
	} {
		up := Manifest{Tool: "profile", Inputs: []File{c.entry}}
		b, _ := json.Marshal(up)
		if err := os.WriteFile(scales+Suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(scales+Suffix, c.mtime, c.mtime); err != nil {
			t.Fatal(err)
		}
		// The checkpoint comes first: every upstream manifest is read
		// before any input is hashed.
		var m Manifest
		if err := m.addInputs(Run{Inputs: []Input{{"checkpoint", ck}, {"scale_file", scales}}}); err != nil {
			t.Fatal(err)
		}
		if got := m.Inputs[0].SHA256; got != c.want {
			t.Errorf("%s: checkpoint hash %s, want %s", c.name, got, c.want)
		}
	}
}
