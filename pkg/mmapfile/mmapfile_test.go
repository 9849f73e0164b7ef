package mmapfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestReleaseKeepsContents(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	want := bytes.Repeat([]byte("qnnkit"), 5000)
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range [][2]int64{{0, 10}, {4095, 2}, {100, 1 << 20}, {-1, 5}, {int64(len(want)), 1}} {
		f.Release(r[0], r[1])
	}
	if !bytes.Equal(f.Bytes(), want) {
		t.Fatal("contents changed after Release")
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("a directory was mapped")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file was mapped")
	}
	p := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(p, nil, 0o644)
	f, err := Open(p)
	if err != nil || f.Size() != 0 {
		t.Fatalf("empty file: %v, size %d", err, f.Size())
	}
	f.Close()
}
