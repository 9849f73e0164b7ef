package mmapfile

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// coldFile writes data to a file, flushes it and drops its pages from the
// page cache (posix_fadvise DONTNEED, no privileges needed), so that a
// Stream over it reads with O_DIRECT where the file system allows.
func coldFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	const fadvDontNeed = 4
	syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
	f.Close()
	return p
}

// TestStreamSameBytes reads unaligned ranges of a cold file in chunks of
// several sizes and checks every byte, through O_DIRECT where the file
// system allows it (and then requires that path), else through the map.
func TestStreamSameBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 5<<20+123)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	p := coldFile(t, data)
	df, derr := os.OpenFile(p, os.O_RDONLY|syscall.O_DIRECT, 0)
	if derr == nil {
		df.Close()
	}
	for _, tc := range []struct{ lo, hi, chunk int }{
		{0, len(data), 1 << 20},         // whole file, ends unaligned
		{4097, len(data) - 5, 100_003},  // odd start, end and chunk
		{8192, 8192 + 3<<20, 512 << 10}, // aligned range and chunks
		{1, 1 + 4*4096 + 7, 4096},       // chunks of one page, unaligned
		{len(data) - 70_000, len(data), 9_999},
	} {
		f, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		// Drop the pages again: an earlier case may have read some.
		if fd, err := os.Open(p); err == nil {
			syscall.Syscall6(syscall.SYS_FADVISE64, fd.Fd(), 0, 0, 4, 0, 0)
			fd.Close()
		}
		s := f.Stream([][]byte{f.Bytes()[tc.lo:tc.hi]}, tc.chunk)
		var got []byte
		var held []func()
		for {
			c, release, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%+v: %v", tc, err)
			}
			if len(c) > tc.chunk {
				t.Fatalf("%+v: chunk of %d bytes", tc, len(c))
			}
			got = append(got, c...)
			// Hold two chunks at a time, as a consumer handing chunks
			// to workers does.
			held = append(held, release)
			if len(held) > 2 {
				held[0]()
				held = held[1:]
			}
		}
		for _, rel := range held {
			rel()
		}
		s.Close()
		f.Close()
		direct := s.directChunks.Load() > 0
		if derr == nil && !direct {
			t.Errorf("%+v: the file system allows O_DIRECT and the range is cold, but the stream reads the map", tc)
		}
		if !bytes.Equal(got, data[tc.lo:tc.hi]) {
			t.Fatalf("%+v (direct %v): %d bytes read differ from the file's %d", tc, direct, len(got), tc.hi-tc.lo)
		}
	}
}

// TestStreamCloseEarly: a consumer that stops after two chunks closes the
// stream without reading the rest (no goroutine left blocked).
func TestStreamCloseEarly(t *testing.T) {
	data := bytes.Repeat([]byte("qnnkit!"), 2<<20)
	f, err := Open(coldFile(t, data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Stream([][]byte{f.Bytes()}, 64<<10)
	c0, rel0, err := s.Next()
	if err != nil || !bytes.Equal(c0, data[:1<<16]) {
		t.Fatalf("chunk 0: %d bytes, %v", len(c0), err)
	}
	rel0()
	if s.directChunks.Load() == 0 {
		t.Log("read through the map (no O_DIRECT here)")
	}
	for i := 1; i < 3; i++ {
		c, release, err := s.Next()
		if err != nil || !bytes.Equal(c, data[i<<16:(i+1)<<16]) {
			t.Fatalf("chunk %d: %d bytes, %v", i, len(c), err)
		}
		release()
	}
	s.Close()
	s.Close() // idempotent
}

// TestStreamOutsideMap: slices that are not part of a map are returned in
// chunks as they are, one range after the other.
func TestStreamOutsideMap(t *testing.T) {
	var f *File
	b := []byte("0123456789")
	s := f.Stream([][]byte{b, nil, b[:3]}, 4)
	var got []byte
	for {
		c, release, err := s.Next()
		if err == io.EOF {
			break
		}
		got = append(got, c...)
		release()
	}
	s.Close()
	if string(got) != string(b)+"012" {
		t.Fatalf("got %q", got)
	}
}

// TestStreamRanges reads several ranges in one stream — cold ones (O_DIRECT
// where allowed), one made resident (through the map), an empty one — and
// checks that the chunks come in order, never span two ranges, and hold
// the ranges' bytes.
func TestStreamRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	f, err := Open(coldFile(t, data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := f.Bytes()
	warm := m[2<<20 : 2<<20+300_001]
	var sum byte
	for _, b := range warm { // fault it in: resident
		sum += b
	}
	_ = sum
	ranges := [][]byte{m[10 : 1<<20+17], nil, warm, m[1<<20+17 : 2<<20], m[3<<20-5:]}
	const chunk = 65_537
	s := f.Stream(ranges, chunk)
	defer s.Close()
	for k, want := range ranges {
		var got []byte
		for len(got) < len(want) {
			c, release, err := s.Next()
			if err != nil {
				t.Fatalf("range %d: %v after %d bytes", k, err, len(got))
			}
			if len(c) > chunk || len(got)+len(c) > len(want) {
				t.Fatalf("range %d: chunk of %d bytes at %d of %d", k, len(c), len(got), len(want))
			}
			got = append(got, c...)
			release()
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("range %d: bytes differ", k)
		}
	}
	if _, _, err := s.Next(); err != io.EOF {
		t.Fatalf("after the last range: %v, want EOF", err)
	}
}

// TestStreamRangeError: an error computing a range comes out of Next in
// the range's place, after the chunks before it.
func TestStreamRangeError(t *testing.T) {
	bad := errors.New("view 1 is broken")
	s := NewStream(nil, 3, func(i int) ([]byte, error) {
		if i == 1 {
			return nil, bad
		}
		return []byte("abcdef"), nil
	}, 4)
	defer s.Close()
	var got []byte
	for {
		c, release, err := s.Next()
		if err != nil {
			if !errors.Is(err, bad) || string(got) != "abcdef" {
				t.Fatalf("after %q: %v, want the range's error after range 0", got, err)
			}
			return
		}
		got = append(got, c...)
		release()
	}
}
