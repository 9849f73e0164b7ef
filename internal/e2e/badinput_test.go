package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badCase is one entry of testdata/badinput/cases.json.
type badCase struct {
	Name string `json:"name"`
	// Desc says what is wrong with the input.
	Desc string `json:"desc"`
	// Bin is the binary to run; Args its arguments, after substitution of
	// $REPO, $BAD, $GEN, $OUT, $PIPE and $CFG (see substitute).
	Bin  string   `json:"bin"`
	Args []string `json:"args"`
	// Config, when set, is a file under testdata/badinput whose
	// placeholders are substituted into a copy named by $CFG.
	Config string `json:"config,omitempty"`
	// Stderr must occur in the standard error output: it names the file,
	// key, layer or offset at fault.
	Stderr string `json:"stderr"`
	// Absent lists paths outside $OUT that must not exist afterwards
	// (outputs in unwritable places). $OUT itself must hold no file.
	Absent []string `json:"absent,omitempty"`
}

func loadCases(t *testing.T) []badCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.repo, "testdata", "badinput", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cs []badCase
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	return cs
}

// TestBadInput runs every case of testdata/badinput/cases.json: the binary
// must exit non-zero without panicking, name the problem on stderr, and
// leave no output behind (no file at all in the case's output directory
// $OUT — neither the output, nor a manifest, nor a stray .*.tmp-* file — and
// none of the Absent paths).
func TestBadInput(t *testing.T) {
	cs := loadCases(t)
	if len(cs) < 40 {
		t.Fatalf("cases.json has %d cases, want at least 40", len(cs))
	}
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.Name] || c.Name == "" || c.Stderr == "" || c.Desc == "" {
			t.Fatalf("case %q: duplicate name or missing name, desc or stderr", c.Name)
		}
		seen[c.Name] = true
		t.Run(c.Name, func(t *testing.T) {
			out := t.TempDir()
			cfgDir := t.TempDir()
			vars := map[string]string{"$REPO": e.repo, "$BAD": filepath.Join(e.repo, "testdata", "badinput"), "$GEN": e.gen, "$OUT": out}
			if strings.Contains(strings.Join(c.Args, " "), "$PIPE") {
				vars["$PIPE"] = pipeline(t)
			}
			if c.Config != "" {
				raw, err := os.ReadFile(filepath.Join(e.repo, "testdata", "badinput", c.Config))
				if err != nil {
					t.Fatal(err)
				}
				vars["$CFG"] = filepath.Join(cfgDir, filepath.Base(c.Config))
				if err := os.WriteFile(vars["$CFG"], []byte(substitute(string(raw), vars)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := make([]string, len(c.Args))
			for i, a := range c.Args {
				args[i] = substitute(a, vars)
			}
			r := runBin(t, e.repo, c.Bin, args...)
			msg := r.stderr
			if r.code == 0 {
				t.Errorf("exit code 0, want non-zero\nstdout: %s\nstderr: %s", tail(r.stdout, 1000), tail(msg, 1000))
			}
			if strings.Contains(msg, "panic:") || strings.Contains(msg, "goroutine ") {
				t.Errorf("the binary panicked:\n%s", tail(msg, 3000))
			}
			want := substitute(c.Stderr, vars)
			if !strings.Contains(msg, want) {
				t.Errorf("stderr does not contain %q:\n%s", want, tail(msg, 2000))
			}
			if files := regularFiles(t, out); len(files) > 0 {
				t.Errorf("files left in the output directory: %v", files)
			}
			for _, p := range c.Absent {
				p = substitute(p, vars)
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s exists after the failed run", p)
				}
			}
			if testing.Verbose() {
				lines := strings.Split(strings.TrimSpace(msg), "\n")
				t.Logf("exit %d in %v; last stderr line: %s", r.code, r.elapsed.Round(1e6), lines[len(lines)-1])
			}
		})
	}
}

// substitute replaces the placeholders of a case or config file.
func substitute(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}
