package mmapfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Streaming a large range of a file that is not in the page cache through
// the map costs a page fault per page and a page-cache insertion per byte:
// on the machines this was measured on, reading 7.3 GB that way took 6.4 s
// of kernel CPU, against 0.5 s with O_DIRECT reads into the reader's own
// buffers (same wall time, one core free for the work). A Stream therefore
// reads a cold range with O_DIRECT, several chunks ahead of its consumer,
// and a range already in the page cache through the map (an O_DIRECT read
// of it would go back to the disk).

const (
	streamAlign   = 4096 // O_DIRECT alignment of offsets, lengths and buffers
	streamDepth   = 48   // chunks read ahead of the consumer (buffers in use): rides out the disk's stalls (quantize: 4 MB chunks, 16 → 48 took 15.1 → 13.8 s cold)
	streamReaders = 2    // reads in flight at once
	// residentSample pages spread over the range are checked with mincore;
	// the map is used when at least half of them are in the page cache.
	residentSample = 16
)

// Stream reads ranges of mapped files front to back in chunks (see
// NewStream). It is used by one goroutine; the chunks it returns may be
// released on others.
type Stream struct {
	order chan *streamJob // chunks in order, being read
	free  chan []byte     // buffers not in use
	stop  chan struct{}
	wg    sync.WaitGroup

	directChunks atomic.Int64 // chunks read with O_DIRECT (for tests)
}

// streamJob is one chunk: a slice of one range.
type streamJob struct {
	b      []byte // the chunk in a map (or in the caller's slice)
	f      *File  // the map b lies in; nil for none
	off    int64  // b's file offset in f
	direct bool   // read with O_DIRECT into buf
	buf    []byte // the buffer the chunk holds until released
	out    []byte // the chunk's bytes (in buf when direct)
	err    error
	res    chan struct{} // closed when out or err is set
}

// Stream is NewStream of the ranges bs of f.
func (f *File) Stream(bs [][]byte, chunk int) *Stream {
	return NewStream([]*File{f}, len(bs), func(i int) ([]byte, error) { return bs[i], nil }, chunk)
}

// NewStream returns a reader of n ranges, one after the other, in chunks
// of at most chunk bytes (a chunk never spans two ranges; an empty range
// gives none). rangeAt(i) gives range i; it is called in order, when the
// reads ahead reach the range, so a range that must be computed (a
// strided view copied out) is held only while its chunks are in use, and
// its error is returned by Next in its place. A range inside one of maps
// that is mostly not in the page cache is read with O_DIRECT, where the
// file system allows it, into the Stream's own buffers; any other range is
// returned as slices of itself, with the pages of the chunks ahead
// requested (WillNeed) and each chunk's pages released from the resident
// set when the chunk is. Up to streamDepth chunks are read ahead of the
// caller, across ranges. Close must be called.
func NewStream(maps []*File, n int, rangeAt func(i int) ([]byte, error), chunk int) *Stream {
	chunk = max(1, chunk)
	s := &Stream{
		order: make(chan *streamJob, streamDepth),
		free:  make(chan []byte, streamDepth),
		stop:  make(chan struct{}),
	}
	// A chunk's enclosing aligned range is at most chunk + 2 alignments.
	size := (chunk+streamAlign-1)/streamAlign*streamAlign + streamAlign
	for range streamDepth {
		s.free <- alignedBuf(size)
	}
	work := make(chan *streamJob, streamDepth)
	// send queues j in order (and, with a buffer, for a reader); false
	// when the stream is closed.
	send := func(j *streamJob, read bool) bool {
		if read {
			select {
			case j.buf = <-s.free:
			case <-s.stop:
				return false
			}
			work <- j // never blocks: at most streamDepth jobs have buffers
		}
		select {
		case s.order <- j:
			return true
		case <-s.stop:
			return false
		}
	}
	s.wg.Add(1 + streamReaders)
	go func() { // hands out the chunks in order, a buffer each
		defer s.wg.Done()
		defer close(work)
		defer close(s.order)
		for i := range n {
			b, err := rangeAt(i)
			if err != nil {
				j := &streamJob{err: err, res: make(chan struct{})}
				close(j.res)
				send(j, false)
				return
			}
			var f *File
			for _, m := range maps {
				if m.Contains(b) {
					f = m
					break
				}
			}
			off, _ := f.offsetOf(b)
			direct := false
			if f != nil && !f.resident(off, int64(len(b))) {
				_, err := f.directFD()
				direct = err == nil
			}
			for lo := 0; lo < len(b); lo += chunk {
				hi := min(lo+chunk, len(b))
				j := &streamJob{b: b[lo:hi], f: f, off: off + int64(lo), direct: direct, res: make(chan struct{})}
				if !send(j, true) {
					return
				}
			}
		}
	}()
	for range streamReaders {
		go func() {
			defer s.wg.Done()
			for j := range work {
				switch {
				case j.direct:
					fd, _ := j.f.directFD()
					j.out, j.err = readDirect(fd, j.buf, j.off, j.off+int64(len(j.b)))
					if errors.Is(j.err, syscall.EINVAL) {
						// A device wanting a larger alignment than
						// streamAlign: the map still reads it.
						j.direct, j.out, j.err = false, j.b, nil
						break
					}
					s.directChunks.Add(1)
				case j.f != nil:
					j.out = j.b
					j.f.WillNeed(j.off, int64(len(j.b)))
				default:
					j.out = j.b
				}
				close(j.res)
			}
		}()
	}
	return s
}

// Next returns the next chunk and a function to call when it is no longer
// used (after which its bytes may change); io.EOF after the last one.
func (s *Stream) Next() ([]byte, func(), error) {
	j, ok := <-s.order
	if !ok {
		return nil, nil, io.EOF
	}
	<-j.res
	release := func() {
		if j.f != nil && !j.direct {
			j.f.Release(j.off, int64(len(j.b)))
		}
		if j.buf != nil {
			s.free <- j.buf
		}
	}
	if j.err != nil {
		release()
		return nil, nil, j.err
	}
	return j.out, release, nil
}

// Close stops the reads ahead and waits for them. Chunks already returned
// stay valid until released. Calling Close again does nothing.
func (s *Stream) Close() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	for j := range s.order { // unblock the dispatcher; let reads finish
		<-j.res
	}
	s.wg.Wait()
	s.stop = nil
}

// readDirect reads file bytes [lo, hi) into buf through the O_DIRECT
// descriptor, reading the enclosing aligned range, and returns the bytes
// of [lo, hi) within buf.
func readDirect(fd *os.File, buf []byte, lo, hi int64) ([]byte, error) {
	a := lo &^ (streamAlign - 1)
	end := (hi + streamAlign - 1) &^ (streamAlign - 1)
	want := buf[:end-a]
	got := 0
	for got < int(hi-a) {
		n, err := fd.ReadAt(want[got:], a+int64(got))
		got += n
		if err != nil {
			if err == io.EOF && got >= int(hi-a) {
				break
			}
			return nil, fmt.Errorf("read %s at offset %d: %w", fd.Name(), a+int64(got), err)
		}
		if n == 0 {
			return nil, fmt.Errorf("read %s at offset %d: no progress", fd.Name(), a+int64(got))
		}
	}
	return buf[lo-a : hi-a], nil
}

// Contains reports whether b lies inside f's map.
func (f *File) Contains(b []byte) bool {
	_, ok := f.offsetOf(b)
	return ok
}

// offsetOf returns the file offset of b when b lies inside the map.
func (f *File) offsetOf(b []byte) (int64, bool) {
	if f == nil || len(f.data) == 0 || len(b) == 0 {
		return 0, false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(f.data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < base || p+uintptr(len(b)) > base+uintptr(len(f.data)) {
		return 0, false
	}
	return int64(p - base), true
}

// resident reports whether at least half of residentSample pages spread
// over [off, off+n) are in the page cache (mincore). When mincore fails the
// answer is true: the map always works.
func (f *File) resident(off, n int64) bool {
	page := int64(os.Getpagesize())
	in := 0
	var vec [1]byte
	for k := range residentSample {
		p := (off + n*int64(k)/residentSample) &^ (page - 1)
		_, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&f.data[p])), uintptr(page), uintptr(unsafe.Pointer(&vec[0])))
		if e != 0 {
			return true
		}
		if vec[0]&1 != 0 {
			in++
		}
	}
	return 2*in >= residentSample
}

// directFD opens (once) a second descriptor of the file with O_DIRECT.
func (f *File) directFD() (*os.File, error) {
	f.directOnce.Do(func() {
		f.direct, f.directErr = os.OpenFile(f.Path, os.O_RDONLY|syscall.O_DIRECT, 0)
	})
	return f.direct, f.directErr
}

// alignedBuf returns n bytes starting at a streamAlign boundary (the heap
// does not move objects).
func alignedBuf(n int) []byte {
	b := make([]byte, n+streamAlign)
	skip := (streamAlign - int(uintptr(unsafe.Pointer(&b[0])))%streamAlign) % streamAlign
	return b[skip : skip+n : skip+n]
}
