package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cmds are the binaries under test.
var cmds = []string{"convert", "profile", "exportqnn", "exportrot", "quantize", "run"}

// env is what TestMain prepares for every test.
type env struct {
	repo string // repository root (absolute)
	bin  string // directory of the built binaries
	gen  string // generated fixtures (see fixtures_test.go)
	tmp  string // scratch directory shared by the tests
}

var e env

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	repo, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "qnnkit-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	e = env{repo: repo, bin: filepath.Join(tmp, "bin"), gen: filepath.Join(tmp, "gen"), tmp: tmp}
	args := []string{"build", "-o", e.bin + string(filepath.Separator)}
	for _, c := range cmds {
		args = append(args, "./cmd/"+c)
	}
	build := exec.Command("go", args...)
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	if err := makeFixtures(e.gen, repo); err != nil {
		fmt.Fprintln(os.Stderr, "fixtures:", err)
		return 1
	}
	return m.Run()
}

// result is one finished command.
type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// runBin runs binary name with args in dir and waits for it.
func runBin(t *testing.T, dir, name string, args ...string) result {
	t.Helper()
	c := exec.Command(filepath.Join(e.bin, name), args...)
	c.Dir = dir
	var so, se bytes.Buffer
	c.Stdout, c.Stderr = &so, &se
	start := time.Now()
	err := c.Run()
	r := result{stdout: so.String(), stderr: se.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return r
}

// mustRun runs a command that must succeed.
func mustRun(t *testing.T, dir, name string, args ...string) result {
	t.Helper()
	r := runBin(t, dir, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\nstderr:\n%s", name, strings.Join(args, " "), r.code, tail(r.stderr, 2000))
	}
	return r
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// regularFiles lists the regular files under dir (relative paths), hidden
// ones included.
func regularFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}
