package pth

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the reader: it must return an error
// or a File whose every tensor yields exactly NumBytes of data — never
// panic, hang or allocate without bound.
func FuzzParse(f *testing.F) {
	for _, n := range []string{"tv10.pth", "tv10_legacy.pth", "dtypes.pth", "rot_cuda.pth", "param.pth", "evil.pth"} {
		b, err := os.ReadFile(filepath.Join(fixtures, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := Parse(data)
		if err != nil {
			return
		}
		for _, x := range Tensors(pf.Root) {
			b, err := x.Data()
			if err != nil {
				continue
			}
			if int64(len(b)) != x.NumBytes() {
				t.Fatalf("tensor %q: %d bytes, want %d", x.Name, len(b), x.NumBytes())
			}
		}
		StateDict(pf.Root)
	})
}

// FuzzPickle exercises the allowlisting unpickler directly (the object
// pickle of a zip file), with every storage backed by a small buffer.
func FuzzPickle(f *testing.F) {
	for _, n := range []string{"tv10.pth", "dtypes.pth", "rot_cuda.pth", "param.pth", "evil.pth"} {
		raw, err := os.ReadFile(filepath.Join(fixtures, n))
		if err != nil {
			f.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			f.Fatal(err)
		}
		for _, zf := range zr.File {
			if strings.HasSuffix(zf.Name, "/data.pkl") {
				b, err := recordBytes(raw, zf)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
	}
	buf := make([]byte, 4096)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newRebuilder()
		r.storageBytes = func(key string) ([]byte, error) {
			return buf[:len(key)*8%len(buf)], nil
		}
		v, err := r.unpickler(data).load()
		if err != nil {
			return
		}
		for _, x := range Tensors(v) {
			if b, err := x.Data(); err == nil && int64(len(b)) != x.NumBytes() {
				t.Fatalf("tensor %q: %d bytes, want %d", x.Name, len(b), x.NumBytes())
			}
		}
	})
}
