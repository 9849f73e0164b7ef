package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAbortKeepsPreviousOutput(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "out.bin")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("partial"))
	f.Abort()
	got, _ := os.ReadFile(p)
	if string(got) != "old" {
		t.Fatalf("previous output changed to %q", got)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("temporary file left behind: %v", ents)
	}
}

func TestCommitReplaces(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.bin")
	for _, s := range []string{"one", "two"} {
		if err := WriteFile(p, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); string(got) != s {
			t.Fatalf("got %q, want %q", got, s)
		}
	}
}

func TestDirectoryTargetRejected(t *testing.T) {
	if err := WriteFile(t.TempDir(), []byte("x")); err == nil {
		t.Fatal("writing over a directory succeeded")
	}
}
