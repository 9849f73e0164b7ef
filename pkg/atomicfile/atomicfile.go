// Package atomicfile writes output files so that a reader never sees a
// partial result: data goes to a temporary file in the destination's
// directory and is renamed over the destination only on Commit.
//
// A process killed mid-write leaves the previous output untouched and at
// most a stray ".tmp-*" file next to it.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File is an output file being written: an io.Writer, io.Seeker,
// io.WriterAt and io.StringWriter. It embeds *os.File for the rest (Name,
// Fd, ...); use the methods File defines for writing.
//
// Sequential data written with Write is handed to the disk as it is
// written (write-behind, every writebackChunk bytes), so that Commit's
// fsync finds little left to flush and the disk is busy while the caller
// produces more data. With WriteDirect, large sequential data bypasses the
// page cache instead (see direct.go).
type File struct {
	*os.File
	path string
	done bool

	pos     int64 // offset after the last Write or Seek
	flushed int64 // start of the range not yet handed to write-back

	seq       bool          // every write so far was sequential: direct writes allowed
	direct    *directWriter // non-nil while sequential data goes through O_DIRECT
	directMin int64         // sequential bytes before direct writes start; 0: never (see WriteDirect)
	directBuf int           // their buffer size (directBuf)

	directBytes int64 // bytes written through O_DIRECT so far
}

// WriteDirect makes the file's sequential data, from directMin bytes on,
// bypass the page cache (O_DIRECT, where the file system allows it). It
// suits large outputs whose bytes the writer hashes itself: the next
// process to read the file (a manifest reading it back to hash it, the
// next pipeline step) then reads it from the disk, not from memory. Call
// it before the first Write.
func (f *File) WriteDirect() {
	f.directMin, f.directBuf = directMin, directBuf
}

// writebackChunk is how much sequential data accumulates before its
// write-back is started.
const writebackChunk = 32 << 20

// Write writes b at the current offset and starts the write-back of each
// full chunk of sequentially written data.
func (f *File) Write(b []byte) (int, error) {
	if f.direct == nil && f.seq && f.directMin > 0 && f.pos+int64(len(b)) >= f.directMin {
		// A write that reaches directMin switches to direct writes there,
		// so that one large write (a whole tensor) does not go through
		// the page cache.
		n := 0
		if head := f.directMin - f.pos; head > 0 {
			k, err := f.writeBuffered(b[:head])
			if err != nil {
				return k, err
			}
			n, b = k, b[head:]
		}
		f.seq = false // one attempt
		d, err := startDirect(f.File, f.pos, f.directBuf)
		if err != nil {
			return n, fmt.Errorf("write %s: %w", f.path, err)
		}
		f.direct = d // nil: the file system refuses O_DIRECT, stay buffered
		k, err := f.Write(b)
		return n + k, err
	}
	if f.direct != nil {
		if err := f.direct.write(b); err != nil {
			return 0, err
		}
		f.pos += int64(len(b))
		f.directBytes += int64(len(b))
		return len(b), nil
	}
	return f.writeBuffered(b)
}

// writeBuffered writes b through the page cache at the current offset.
func (f *File) writeBuffered(b []byte) (int, error) {
	n, err := f.File.Write(b)
	f.pos += int64(n)
	if err != nil {
		return n, err
	}
	if f.pos-f.flushed >= writebackChunk {
		startWriteback(f.File.Fd(), f.flushed, f.pos-f.flushed)
		f.flushed = f.pos
	}
	return n, nil
}

// WriteString writes s like Write (io.StringWriter).
func (f *File) WriteString(s string) (int, error) { return f.Write([]byte(s)) }

// ReadFrom copies r to the file through Write (io.ReaderFrom).
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{f}, r)
}

// endDirect returns the file to buffered writes at its position.
func (f *File) endDirect() error {
	f.seq = false
	if f.direct == nil {
		return nil
	}
	err := f.direct.stop(f.File)
	f.direct = nil
	f.flushed = f.pos
	if _, serr := f.File.Seek(f.pos, io.SeekStart); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Seek sets the offset of the next Write (io.Seeker).
func (f *File) Seek(offset int64, whence int) (int64, error) {
	if err := f.endDirect(); err != nil {
		return 0, err
	}
	p, err := f.File.Seek(offset, whence)
	if err == nil {
		f.pos = p
		if p < f.flushed {
			f.flushed = p
		}
	}
	return p, err
}

// WriteAt writes b at offset off (io.WriterAt).
func (f *File) WriteAt(b []byte, off int64) (int, error) {
	if err := f.endDirect(); err != nil {
		return 0, err
	}
	return f.File.WriteAt(b, off)
}

// ReadAt reads what was written (io.ReaderAt).
func (f *File) ReadAt(b []byte, off int64) (int, error) {
	if err := f.endDirect(); err != nil {
		return 0, err
	}
	return f.File.ReadAt(b, off)
}

// Stat describes the file written so far.
func (f *File) Stat() (os.FileInfo, error) {
	if err := f.endDirect(); err != nil {
		return nil, err
	}
	return f.File.Stat()
}

// Sync flushes what was written to disk.
func (f *File) Sync() error {
	if err := f.endDirect(); err != nil {
		return err
	}
	return f.File.Sync()
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
	return &File{File: f, path: path, seq: true}, nil
}

// Path is the final destination.
func (f *File) Path() string { return f.path }

// Commit flushes the data to disk and renames the temporary file to the
// destination.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("output %s: already committed or aborted", f.path)
	}
	tmp := f.File.Name()
	if err := f.endDirect(); err != nil {
		f.done = true
		f.File.Close()
		os.Remove(tmp)
		return err
	}
	f.done = true
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
	if f.direct != nil {
		f.direct.abort()
		f.direct = nil
	}
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
