// Package mmapfile maps a whole file read-only into memory, so that readers
// of large checkpoints slice tensors out of it without copying.
package mmapfile

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// File is a read-only memory map of a file.
type File struct {
	Path string
	data []byte

	// A second descriptor with O_DIRECT, opened by the first Stream
	// that reads a range not in the page cache.
	directOnce sync.Once
	direct     *os.File
	directErr  error
}

// Open maps path read-only. An empty file maps to an empty slice.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a file", path)
	}
	size := st.Size()
	if size == 0 {
		return &File{Path: path, data: []byte{}}, nil
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: file too large to map (%d bytes)", path, size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return &File{Path: path, data: data}, nil
}

// Bytes returns the mapped contents. The slice is read-only (writing to it
// faults) and is valid until Close.
func (f *File) Bytes() []byte { return f.data }

// Size is the file size in bytes.
func (f *File) Size() int64 { return int64(len(f.data)) }

// Close unmaps the file.
func (f *File) Close() error {
	if f == nil || len(f.data) == 0 {
		return nil
	}
	err := syscall.Munmap(f.data)
	f.data = nil
	if f.direct != nil {
		f.direct.Close()
	}
	return err
}

// Release drops the pages of [off, off+n) from the process's resident set
// once a streaming reader is done with them. The mapping is a shared,
// read-only file mapping, so the data stays in the page cache and is read
// back if touched again: contents never change. Errors are ignored (the
// call is advice).
func (f *File) Release(off, n int64) {
	if f == nil || n <= 0 || off < 0 || off >= int64(len(f.data)) {
		return
	}
	page := int64(os.Getpagesize())
	lo := off &^ (page - 1)
	hi := min((off+n+page-1)&^(page-1), int64(len(f.data)))
	if hi > lo {
		syscall.Madvise(f.data[lo:hi], syscall.MADV_DONTNEED)
	}
}

// WillNeed asks the OS to start reading [off, off+n) of the file into the
// page cache now, so that a streaming reader a little behind does not wait
// for the disk page fault by page fault. Errors are ignored (advice).
func (f *File) WillNeed(off, n int64) {
	if f == nil || n <= 0 || off < 0 || off >= int64(len(f.data)) {
		return
	}
	page := int64(os.Getpagesize())
	lo := off &^ (page - 1)
	hi := min(off+n, int64(len(f.data)))
	syscall.Madvise(f.data[lo:hi], syscall.MADV_WILLNEED)
}

// RandomAccess tells the OS whether the map is about to be read at
// scattered places (MADV_RANDOM: a page fault reads that page only, not
// the device's read-ahead window of up to megabytes around it) or
// sequentially again (MADV_NORMAL). Parsing a zip archive's local headers
// across a cold multi-GB file otherwise reads hundreds of megabytes of
// tensor data that are not needed yet. Errors are ignored (advice).
func (f *File) RandomAccess(on bool) {
	if f == nil || len(f.data) == 0 {
		return
	}
	advice := syscall.MADV_NORMAL
	if on {
		advice = syscall.MADV_RANDOM
	}
	syscall.Madvise(f.data, advice)
}

// Anon reserves n bytes of zeroed, private, anonymous memory outside the
// Go heap: pages cost memory only once written, and the bytes do not raise
// the garbage collector's heap goal (with GOGC=100 a live heap of W bytes
// lets W bytes of garbage accumulate). FreeAnon returns them.
func Anon(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("anonymous map of %d bytes", n)
	}
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("anonymous map of %d bytes: %w", n, err)
	}
	return b, nil
}

// FreeAnon unmaps memory returned by Anon (b must be the whole slice).
func FreeAnon(b []byte) {
	if len(b) > 0 {
		syscall.Munmap(b)
	}
}
