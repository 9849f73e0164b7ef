package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// Large sequential outputs may bypass the page cache (File.WriteDirect):
// once a file has directMin bytes written in order, the rest goes through a second
// descriptor of the temporary file opened with O_DIRECT, in aligned
// buffers of directBuf bytes written by two other goroutines (two
// requests in flight keep the disk's queue from running dry between them). Buffered writes
// cost the writing process a copy into the page cache plus the kernel's
// page bookkeeping (a quarter of an export's CPU time) and stall it in
// dirty-page throttling; direct writes cost one copy into a buffer and
// keep the disk busy while the caller computes. Any other operation (a
// Seek, WriteAt, ...) first drains the buffers and returns the file to
// buffered writes, so the result is the same bytes either way.
const (
	directMin     = 64 << 20
	directBuf     = 8 << 20
	directBufs    = 4
	directWriters = 2
	directAlign   = 4096
)

// directWriter writes a file's sequential data through O_DIRECT.
type directWriter struct {
	fd   *os.File
	buf  []byte // being filled; cap directBuf, aligned
	off  int64  // file offset of buf[0], a multiple of directAlign
	free chan []byte
	jobs chan directJob
	wg   sync.WaitGroup

	mu  sync.Mutex
	err error // the first failed write
}

type directJob struct {
	b   []byte
	off int64
}

// alignedBuf returns a zero-length slice of capacity n whose first byte is
// directAlign-aligned (the heap does not move objects).
func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	skip := (directAlign - int(uintptr(unsafe.Pointer(&b[0])))%directAlign) % directAlign
	return b[skip : skip : skip+n]
}

// startDirect switches f to direct writes at its current position pos
// (sequential data [0, pos) already written), in buffers of bufSize bytes
// (a multiple of directAlign). It returns nil, leaving f
// buffered, when the file system refuses O_DIRECT.
func startDirect(f *os.File, pos int64, bufSize int) (*directWriter, error) {
	fd, err := openDirect(f.Name())
	if err != nil {
		return nil, nil // e.g. tmpfs: stay buffered
	}
	d := &directWriter{
		fd:   fd,
		off:  pos / directAlign * directAlign,
		free: make(chan []byte, directBufs),
		jobs: make(chan directJob, directBufs),
	}
	for range directBufs - 1 {
		d.free <- alignedBuf(bufSize)
	}
	d.buf = alignedBuf(bufSize)
	// The block the position falls in starts with bytes already written:
	// the direct write of that block must carry them.
	if head := int(pos - d.off); head > 0 {
		d.buf = d.buf[:head]
		if _, err := f.ReadAt(d.buf, d.off); err != nil {
			fd.Close()
			return nil, fmt.Errorf("read back %d bytes at offset %d: %w", head, d.off, err)
		}
	}
	d.wg.Add(directWriters)
	for range directWriters {
		go d.run()
	}
	return d, nil
}

func (d *directWriter) run() {
	defer d.wg.Done()
	for j := range d.jobs {
		if d.failed() == nil {
			if _, err := d.fd.WriteAt(j.b, j.off); err != nil {
				d.mu.Lock()
				d.err = err
				d.mu.Unlock()
			}
		}
		d.free <- j.b[:0]
	}
}

func (d *directWriter) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// write appends b; it blocks while all buffers are being written.
func (d *directWriter) write(b []byte) error {
	for len(b) > 0 {
		n := copy(d.buf[len(d.buf):cap(d.buf)], b)
		d.buf = d.buf[:len(d.buf)+n]
		b = b[n:]
		if len(d.buf) == cap(d.buf) {
			d.jobs <- directJob{d.buf, d.off}
			d.off += int64(len(d.buf))
			d.buf = <-d.free
		}
	}
	return d.failed()
}

// stop waits for the buffers in flight, writes the partial one through
// the buffered descriptor f and closes the direct one. It returns the
// first write error.
func (d *directWriter) stop(f *os.File) error {
	close(d.jobs)
	d.wg.Wait()
	err := d.err
	if err == nil && len(d.buf) > 0 {
		_, err = f.WriteAt(d.buf, d.off)
	}
	return errors.Join(err, d.fd.Close())
}

// abort stops the writes without finishing the file.
func (d *directWriter) abort() {
	close(d.jobs)
	d.wg.Wait()
	d.fd.Close()
}
