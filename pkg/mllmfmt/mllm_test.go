package mllmfmt

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
)

// seekBuffer is an in-memory io.WriteSeeker.
type seekBuffer struct {
	b   []byte
	pos int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if need := s.pos + len(p); need > len(s.b) {
		s.b = append(s.b, make([]byte, need-len(s.b))...)
	}
	copy(s.b[s.pos:], p)
	s.pos += len(p)
	return len(p), nil
}

func (s *seekBuffer) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		s.pos = int(off)
	case io.SeekCurrent:
		s.pos += int(off)
	case io.SeekEnd:
		s.pos = len(s.b) + int(off)
	}
	return int64(s.pos), nil
}

func TestWriterRoundTrip(t *testing.T) {
	names := []string{"a.weight", "b_weight", "c.bias"}
	var buf seekBuffer
	w, err := NewWriter(&buf, names)
	if err != nil {
		t.Fatal(err)
	}
	data := [][]byte{{1, 2, 3}, {4, 5, 6, 7}, {}}
	dts := []DType{I8, F32, F32}
	for i, n := range names {
		if err := w.WriteTensor(n, dts[i], data[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.b)
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"a.weight", "b.weight", "c.bias"} // index-only rename
	for i, e := range f.Entries {
		if e.Name != wantNames[i] || e.DType != dts[i] || !bytes.Equal(f.Data(e), data[i]) {
			t.Errorf("entry %d = %+v data %v", i, e, f.Data(e))
		}
	}
	if err := f.Validate(); err != nil {
		t.Errorf("valid file: %v", err)
	}
	// A 3-byte F32 tensor is not a whole number of elements.
	var bad seekBuffer
	w2, _ := NewWriter(&bad, []string{"x"})
	w2.WriteTensor("x", F32, []byte{1, 2, 3})
	w2.Close()
	f2, err := Parse(bad.b)
	if err != nil {
		t.Fatal(err)
	}
	if err := f2.Validate(); err == nil || !strings.Contains(err.Error(), "whole number") {
		t.Errorf("Validate of a 3-byte F32 tensor: %v", err)
	}
}

func TestWriterOrderEnforced(t *testing.T) {
	var buf seekBuffer
	w, _ := NewWriter(&buf, []string{"x", "y"})
	if err := w.WriteTensor("y", F32, nil); err == nil {
		t.Fatal("out-of-order tensor accepted")
	}
	if _, err := NewWriter(&buf, []string{"é"}); err == nil {
		t.Fatal("non-ASCII name accepted")
	}
	if _, err := NewWriter(&buf, []string{"x", "x"}); err == nil {
		t.Fatal("duplicate name accepted")
	}
}

func TestParseErrors(t *testing.T) {
	good := func() []byte {
		var buf seekBuffer
		w, _ := NewWriter(&buf, []string{"t"})
		w.WriteTensor("t", F32, []byte{0, 0, 0x80, 0x3f})
		w.Close()
		return buf.b
	}
	cases := []struct {
		name   string
		mutate func([]byte) []byte
		want   string
	}{
		{"short", func(b []byte) []byte { return b[:8] }, "shorter than"},
		{"magic", func(b []byte) []byte { b[0] = 0; return b }, "magic"},
		{"index size", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[4:], 1<<40); return b }, "index size"},
		{"truncated data", func(b []byte) []byte { return b[:len(b)-1] }, "outside"},
		{"name length", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1000); return b }, "name length"},
	}
	for _, tc := range cases {
		_, err := Parse(tc.mutate(good()))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want mention of %q", tc.name, err, tc.want)
		}
	}
}
