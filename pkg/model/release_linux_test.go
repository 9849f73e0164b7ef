package model

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/mmapfile"
)

// releaseMapped leaves heap memory alone and keeps a mapped file's
// contents readable (the pages come back from the page cache).
func TestReleaseMapped(t *testing.T) {
	heap := bytes.Repeat([]byte{7}, 1<<16)
	releaseMapped(heap[100:40000])
	if bytes.Count(heap, []byte{7}) != len(heap) {
		t.Fatal("releaseMapped changed heap memory")
	}
	p := filepath.Join(t.TempDir(), "f.bin")
	want := make([]byte, 3<<16+123)
	for i := range want {
		want[i] = byte(i * 7)
	}
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := mmapfile.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := m.Bytes()
	if _, _, ok := fileMapping(uintptrOf(b), uintptrOf(b)+uintptr(len(b))); !ok {
		t.Fatal("the file mapping is not found in /proc/self/maps")
	}
	releaseMapped(b[5000:150000])
	releaseMapped(b)
	if !bytes.Equal(b, want) {
		t.Fatal("mapped contents changed after releaseMapped")
	}
	if _, _, ok := fileMapping(uintptrOf(heap), uintptrOf(heap)+1); ok {
		t.Fatal("heap memory taken for a shared file mapping")
	}
}
