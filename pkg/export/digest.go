package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
)

// Digest is the size and SHA-256 of a file, computed from the bytes as
// they were written (so the file need not be read back to hash it).
type Digest struct {
	Size   int64
	SHA256 string // hex; "" when the bytes were not written in order (read the file instead)
}

// hashingFile writes to an atomic output file and hashes the bytes while
// the writes are sequential. A write before the hashed end (a patch)
// makes the hash unknown.
type hashingFile struct {
	f      *atomicfile.File
	h      hash.Hash
	pos    int64 // offset of the next write
	hashed int64 // bytes hashed: [0, hashed) of the file
	end    int64 // the end of the written data
	broken bool  // a write landed before hashed or after a gap
}

func newHashingFile(f *atomicfile.File) *hashingFile {
	return &hashingFile{f: f, h: sha256.New()}
}

// concurrentHashMin is the write size from which the hash runs on another
// goroutine while the kernel copies the bytes into the page cache: for an
// export, hashing and that copy were over half of the CPU time, all of it
// on the writing goroutine.
const concurrentHashMin = 1 << 20

func (w *hashingFile) Write(b []byte) (int, error) {
	if w.pos != w.hashed || w.broken {
		n, err := w.f.Write(b)
		w.broken = true
		w.advance(n)
		return n, err
	}
	if len(b) < concurrentHashMin {
		n, err := w.f.Write(b)
		w.h.Write(b[:n])
		w.hashed += int64(n)
		w.advance(n)
		return n, err
	}
	// Both goroutines only read b, and Write returns after both are done.
	done := make(chan struct{})
	go func() {
		w.h.Write(b)
		close(done)
	}()
	n, err := w.f.Write(b)
	<-done
	if n == len(b) {
		w.hashed += int64(n)
	} else {
		w.broken = true // the hash covers bytes that were not written
	}
	w.advance(n)
	return n, err
}

// advance moves the write position past n written bytes.
func (w *hashingFile) advance(n int) {
	w.pos += int64(n)
	w.end = max(w.end, w.pos)
}

func (w *hashingFile) Seek(offset int64, whence int) (int64, error) {
	p, err := w.f.Seek(offset, whence)
	if err == nil {
		w.pos = p
	}
	return p, err
}

// digest is the size and hash of the data written.
func (w *hashingFile) digest() Digest {
	if w.broken || w.hashed != w.end {
		return Digest{Size: w.end}
	}
	return Digest{Size: w.end, SHA256: hex.EncodeToString(w.h.Sum(nil))}
}

// mllmHeader is the .mllm header and index EncodeMLLM writes for s: the
// mllmfmt.Writer run on the tensors' sizes alone (it writes the index last,
// over the zeros it reserved).
func mllmHeader(s State) ([]byte, error) {
	var sink prefixSink
	mw, err := mllmfmt.NewWriter(&sink, s.Names())
	if err != nil {
		return nil, err
	}
	for _, t := range s {
		code := MLLMCode(t.DType)
		n := t.NumBytes()
		if code == mllmfmt.F32 {
			n = 4 * int64(t.NumElements())
		}
		if err := mw.WriteTensorFrom(t.Name, code, func(io.Writer) (int64, error) {
			sink.pos += n
			return n, nil
		}); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return sink.prefix, nil
}

// prefixSink keeps what is written to its first bytes (the header and
// index, written at offset 0 and patched at offset 12) and discards the
// rest.
type prefixSink struct {
	prefix []byte
	pos    int64
	end    int64
}

func (s *prefixSink) Write(b []byte) (int, error) {
	if s.pos == int64(len(s.prefix)) && s.end == s.pos {
		s.prefix = append(s.prefix, b...)
	} else if s.pos+int64(len(b)) <= int64(len(s.prefix)) {
		copy(s.prefix[s.pos:], b)
	} else {
		return 0, errors.New("unexpected write past the .mllm index")
	}
	s.pos += int64(len(b))
	s.end = max(s.end, s.pos)
	return len(b), nil
}

func (s *prefixSink) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		s.pos = offset
	case io.SeekEnd:
		s.pos = max(s.end, s.pos) + offset
	default:
		return 0, errors.New("unsupported seek")
	}
	return s.pos, nil
}

// headerFirst passes an mllmfmt.Writer's output to w except for the first
// len(header) bytes, which were written to w beforehand (the final header
// and index, from mllmHeader): the writer's own writes there (the zeroed
// index, then the patched one) are kept in shadow, so w sees one
// sequential stream and can hash it. check reports whether the writer's
// final header is the one written first.
type headerFirst struct {
	w      *hashingFile
	header []byte
	shadow []byte
	pos    int64 // the mllmfmt.Writer's offset
	end    int64 // the end of what it wrote
}

func (h *headerFirst) Write(b []byte) (int, error) {
	n := 0
	if l := int64(len(h.header)); h.pos < l {
		k := int(min(int64(len(b)), l-h.pos))
		copy(h.shadow[h.pos:], b[:k])
		n, b = k, b[k:]
		h.pos += int64(k)
	}
	if len(b) > 0 {
		if h.w.pos != h.pos {
			if _, err := h.w.Seek(h.pos, io.SeekStart); err != nil {
				return n, err
			}
		}
		m, err := h.w.Write(b)
		n += m
		h.pos += int64(m)
		if err != nil {
			h.end = max(h.end, h.pos)
			return n, err
		}
	}
	h.end = max(h.end, h.pos)
	return n, nil
}

func (h *headerFirst) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		h.pos = offset
	case io.SeekCurrent:
		h.pos += offset
	case io.SeekEnd:
		h.pos = h.end + offset
	}
	if h.pos < 0 {
		return 0, fmt.Errorf("seek to %d", h.pos)
	}
	return h.pos, nil
}

// finish makes the file's header the writer's: a no-op when it is the one
// written first (always, unless a tensor's size differed from its shape,
// which EncodeMLLM rejects), else it is written over (and the file hashed
// by reading it back).
func (h *headerFirst) finish() error {
	if bytes.Equal(h.shadow, h.header) {
		return nil
	}
	if _, err := h.w.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := h.w.Write(h.shadow); err != nil {
		return err
	}
	_, err := h.w.Seek(0, io.SeekEnd)
	return err
}
