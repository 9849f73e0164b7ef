// Package atomicfile writes output files so that a reader never sees a
// partial result: data goes to a temporary file in the destination's
// directory and is renamed over the destination only on Commit.
//
// A process killed mid-write leaves the previous output untouched and at
// most a stray ".tmp-*" file next to it.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is an output file being written. It embeds *os.File, so it is an
// io.Writer, io.Seeker and io.WriterAt.
//
// Sequential data written with Write is handed to the disk as it is
// written (write-behind, every writebackChunk bytes), so that Commit's
// fsync finds little left to flush and the disk is busy while the caller
// produces more data.
type File struct {
	*os.File
	path string
	done bool

	pos     int64 // offset after the last Write or Seek
	flushed int64 // start of the range not yet handed to write-back
}

// writebackChunk is how much sequential data accumulates before its
// write-back is started.
const writebackChunk = 32 << 20

// Write writes b at the current offset and starts the write-back of each
// full chunk of sequentially written data.
func (f *File) Write(b []byte) (int, error) {
	n, err := f.File.Write(b)
	f.pos += int64(n)
	if f.pos-f.flushed >= writebackChunk {
		startWriteback(f.File.Fd(), f.flushed, f.pos-f.flushed)
		f.flushed = f.pos
	}
	return n, err
}

// Seek sets the offset of the next Write (io.Seeker).
func (f *File) Seek(offset int64, whence int) (int64, error) {
	p, err := f.File.Seek(offset, whence)
	if err == nil {
		f.pos = p
		if p < f.flushed {
			f.flushed = p
		}
	}
	return p, err
}

// Create opens a temporary file next to path. Only the parent directory is
// created if missing (never path itself).
func Create(path string) (*File, error) {
	if path == "" {
		return nil, fmt.Errorf("create output: the path is empty")
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory for %s: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("output %s is a directory", path)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create output %s: %w", path, err)
	}
	return &File{File: f, path: path}, nil
}

// Path is the final destination.
func (f *File) Path() string { return f.path }

// Commit flushes the data to disk and renames the temporary file to the
// destination.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("output %s: already committed or aborted", f.path)
	}
	f.done = true
	tmp := f.File.Name()
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Abort discards the temporary file. It is safe to call after Commit (then
// it does nothing), so `defer f.Abort()` is the usual pattern.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}
