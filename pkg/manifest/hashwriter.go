package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// HashWriter passes writes to an output and hashes them, so that a
// command can record the output's size and SHA-256 (Pending.SetOutputHash)
// without reading the file back. The output must be written in order,
// front to back, through the HashWriter.
type HashWriter struct {
	w      io.Writer
	h      hash.Hash
	n      int64
	broken bool // a write failed part-way: the hash is not the file's
}

// NewHashWriter returns a HashWriter writing to w.
func NewHashWriter(w io.Writer) *HashWriter { return &HashWriter{w: w, h: sha256.New()} }

// concurrentHashMin is the write size from which the hash runs on another
// goroutine while w copies the bytes.
const concurrentHashMin = 1 << 20

// Write writes b to the output and hashes it.
func (hw *HashWriter) Write(b []byte) (int, error) {
	if len(b) < concurrentHashMin {
		n, err := hw.w.Write(b)
		hw.h.Write(b[:n])
		hw.n += int64(n)
		return n, err
	}
	done := make(chan struct{}) // both goroutines only read b
	go func() {
		hw.h.Write(b)
		close(done)
	}()
	n, err := hw.w.Write(b)
	<-done
	hw.n += int64(n)
	if n != len(b) {
		hw.broken = true
	}
	return n, err
}

// Sum returns the number of bytes written and their SHA-256 (hex); ok is
// false when a write failed part-way.
func (hw *HashWriter) Sum() (size int64, sha string, ok bool) {
	return hw.n, hex.EncodeToString(hw.h.Sum(nil)), !hw.broken
}
