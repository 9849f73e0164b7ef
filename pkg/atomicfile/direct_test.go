package atomicfile

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// directFile creates an output whose direct writes start after min bytes,
// in buffers of buf bytes.
func directFile(t *testing.T, min int64, buf int) (*File, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out.bin")
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.directMin, f.directBuf = min, buf
	return f, p
}

// TestDirectWritesSameBytes writes a file in pieces of odd sizes across the
// switch to O_DIRECT and its buffers, patches the header with Seek (which
// returns to buffered writes), appends more, and checks every byte.
func TestDirectWritesSameBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		min  int64
		buf  int
		size int
	}{
		{10_000, 2 * directAlign, 200_000},      // switch inside a block
		{8 * directAlign, directAlign, 100_003}, // switch on a block boundary
		{1, 3 * directAlign, 5_000},             // ends inside the first buffer
	} {
		f, p := directFile(t, tc.min, tc.buf)
		want := make([]byte, tc.size)
		for i := range want {
			want[i] = byte(r.Uint32())
		}
		usedDirect := false
		for off := 0; off < len(want); {
			n := min(len(want)-off, 1+r.IntN(5000))
			if k, err := f.Write(want[off : off+n]); err != nil || k != n {
				t.Fatalf("write %d bytes at %d: %d, %v", n, off, k, err)
			}
			off += n
			usedDirect = usedDirect || f.direct != nil
		}
		if !usedDirect {
			t.Skipf("%s: the file system refuses O_DIRECT; the buffered path is tested elsewhere", filepath.Dir(p))
		}
		// Patch the header, then append at the end.
		copy(want[:16], "patched header!!")
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(want[:16]); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			t.Fatal(err)
		}
		tail := []byte("appended after the patch")
		if _, err := f.WriteString(string(tail)); err != nil {
			t.Fatal(err)
		}
		want = append(want, tail...)
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Fatalf("%+v: file differs from the bytes written at offset %d (size %d, want %d)", tc, i, len(got), len(want))
		}
	}
}

// TestDirectCommitWithoutSeek covers Commit draining the buffers and Stat
// reporting the full size while direct writes are active.
func TestDirectCommitWithoutSeek(t *testing.T) {
	f, p := directFile(t, directAlign, directAlign)
	data := bytes.Repeat([]byte("0123456789abcdef"), 3000) // 48000 bytes
	if _, err := f.Write(data[:5000]); err != nil {
		t.Fatal(err)
	}
	if f.direct == nil {
		t.Skip("the file system refuses O_DIRECT")
	}
	if _, err := f.Write(data[5000:]); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil || st.Size() != int64(len(data)) {
		t.Fatalf("Stat: size %v, %v; want %d", st.Size(), err, len(data))
	}
	if _, err := f.Write(data); err != nil { // buffered again after Stat
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, append(append([]byte{}, data...), data...)) {
		t.Fatalf("committed file of %d bytes differs from the %d written", len(got), 2*len(data))
	}
}

// TestDirectAbortLeavesNothing aborts during direct writes.
func TestDirectAbortLeavesNothing(t *testing.T) {
	f, p := directFile(t, directAlign, directAlign)
	if _, err := f.Write(make([]byte, 50_000)); err != nil {
		t.Fatal(err)
	}
	f.Abort()
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

// TestBufferedUnlessAsked: without WriteDirect a file never bypasses the
// page cache, however much is written.
func TestBufferedUnlessAsked(t *testing.T) {
	f, err := Create(filepath.Join(t.TempDir(), "out.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	f.directBuf = directAlign // small buffers, but no threshold set
	for range 40 {
		if _, err := f.Write(make([]byte, 10_000)); err != nil {
			t.Fatal(err)
		}
		if f.direct != nil {
			t.Fatal("direct writes started without WriteDirect")
		}
	}
}

// TestDirectSwitchInsideOneWrite: a single write that crosses directMin
// (a whole tensor written at once) goes through O_DIRECT from directMin on,
// not only the writes after it.
func TestDirectSwitchInsideOneWrite(t *testing.T) {
	const min, size = 10_000, 300_000
	f, p := directFile(t, min, 2*directAlign)
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7)
	}
	if _, err := f.Write(want[:100]); err != nil {
		t.Fatal(err)
	}
	if k, err := f.Write(want[100:]); err != nil || k != size-100 {
		t.Fatalf("write: %d, %v", k, err)
	}
	if f.direct == nil {
		t.Skip("the file system refuses O_DIRECT")
	}
	if f.directBytes != size-min {
		t.Fatalf("%d bytes written through O_DIRECT, want %d (all after directMin)", f.directBytes, size-min)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
		t.Fatalf("committed file of %d bytes differs from the %d written", len(got), len(want))
	}
}
