// Package mllmfmt reads and writes mllm's v1 parameter files (.mllm).
//
// Layout (all little-endian, no padding):
//
//	int32  magic = 20012
//	uint64 index_size
//	index: { int32 name_len; name; uint64 data_len; uint64 offset; int32 dtype } ...
//	tensor data at absolute offsets
//
// The writer streams: the index size depends only on the names, so it is
// reserved up front, tensors are appended one at a time, and the index is
// patched in at the end — the same procedure as mllm's converter.py, which
// gives byte-identical files.
package mllmfmt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"

	"github.com/qnnkit/qnnkit/pkg/mmapfile"
)

// Magic is the first int32 of a v1 parameter file.
const Magic = 20012

// DType is the v1 runtime's element type code (mllm v1: mllm/Types.hpp).
type DType int32

// Codes of the v1 runtime DataType enum.
const (
	F32          DType = 0
	F16          DType = 1
	Q4_0         DType = 2
	Q4_1         DType = 3
	Q8_0         DType = 8
	Q8_1         DType = 9
	Q8PerTensor  DType = 10
	Q4_K         DType = 12
	Q6_K         DType = 14
	Q8_K         DType = 15
	I8           DType = 16
	I16          DType = 17
	I32          DType = 18
	Q4_0_4_4     DType = 19
	Q3_K         DType = 23
	Q2_K         DType = 24
	KleidiAIQ4_0 DType = 31
)

var dtypeNames = map[DType]string{
	F32: "F32", F16: "F16", Q4_0: "Q4_0", Q4_1: "Q4_1", Q8_0: "Q8_0", Q8_1: "Q8_1",
	Q8PerTensor: "Q8_PER_TENSOR", Q4_K: "Q4_K", Q6_K: "Q6_K", Q8_K: "Q8_K",
	I8: "I8", I16: "I16", I32: "I32", Q4_0_4_4: "Q4_0_4_4", Q3_K: "Q3_K", Q2_K: "Q2_K",
	KleidiAIQ4_0: "KLEIDIAI_Q4_0",
}

func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// BlockSize returns (elements per block, bytes per block) for the dtypes
// whose byte length is determined by the element count; ok is false for
// codes qnnkit does not size.
func (d DType) BlockSize() (elems, bytes int, ok bool) {
	switch d {
	case F32, I32:
		return 1, 4, true
	case F16, I16:
		return 1, 2, true
	case I8, KleidiAIQ4_0:
		return 1, 1, true
	case Q4_0:
		return 32, 18, true
	case Q8_0:
		return 32, 34, true
	case Q4_K:
		return 256, 144, true
	case Q6_K:
		return 256, 210, true
	case Q8_K:
		return 256, 292, true
	}
	return 0, 0, false
}

// Entry is one index record.
type Entry struct {
	Name   string
	Size   uint64 // data length in bytes
	Offset uint64 // absolute file offset of the data
	DType  DType
}

// File is an opened .mllm file, memory mapped.
type File struct {
	Path    string
	Entries []Entry // in index order
	byName  map[string]int
	m       *mmapfile.File
	data    []byte
}

// Open maps and parses path, validating the index: every entry must lie
// inside the file and after the index.
func Open(path string) (*File, error) {
	m, err := mmapfile.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := parse(m.Bytes())
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Path = path
	f.m = m
	return f, nil
}

// Parse reads a .mllm image held in memory.
func Parse(data []byte) (*File, error) { return parse(data) }

func parse(data []byte) (*File, error) {
	le := binary.LittleEndian
	if len(data) < 12 {
		return nil, fmt.Errorf("file is %d bytes, shorter than the 12-byte header", len(data))
	}
	if m := int32(le.Uint32(data)); m != Magic {
		return nil, fmt.Errorf("offset 0: magic %d, want %d (not an mllm v1 file)", m, Magic)
	}
	isz := le.Uint64(data[4:])
	if isz > uint64(len(data))-12 {
		return nil, fmt.Errorf("offset 4: index size %d exceeds the file (%d bytes)", isz, len(data))
	}
	end := 12 + int(isz)
	f := &File{data: data, byName: map[string]int{}}
	for p := 12; p < end; {
		if end-p < 4 {
			return nil, fmt.Errorf("offset %d: truncated index entry", p)
		}
		nl := int32(le.Uint32(data[p:]))
		if nl < 0 || int(nl) > end-p-4-20 {
			return nil, fmt.Errorf("offset %d: name length %d does not fit the index", p, nl)
		}
		name := string(data[p+4 : p+4+int(nl)])
		q := p + 4 + int(nl)
		e := Entry{Name: name, Size: le.Uint64(data[q:]), Offset: le.Uint64(data[q+8:]), DType: DType(int32(le.Uint32(data[q+16:])))}
		if e.Offset < uint64(end) || e.Offset > uint64(len(data)) || e.Size > uint64(len(data))-e.Offset {
			return nil, fmt.Errorf("offset %d: tensor %q data [%d, +%d) outside the data area [%d, %d)", p, name, e.Offset, e.Size, end, len(data))
		}
		if _, dup := f.byName[name]; dup {
			return nil, fmt.Errorf("offset %d: duplicate tensor name %q", p, name)
		}
		f.byName[name] = len(f.Entries)
		f.Entries = append(f.Entries, e)
		p = q + 20
	}
	return f, nil
}

// Close unmaps the file.
func (f *File) Close() error {
	if f.m == nil {
		return nil
	}
	return f.m.Close()
}

// Lookup finds an entry by name.
func (f *File) Lookup(name string) (Entry, bool) {
	i, ok := f.byName[name]
	if !ok {
		return Entry{}, false
	}
	return f.Entries[i], true
}

// Data returns the bytes of entry e (aliasing the map; do not modify).
func (f *File) Data(e Entry) []byte { return f.data[e.Offset : e.Offset+e.Size] }

// Release tells the OS that entry e's bytes are no longer needed, so a
// streaming pass over a large file keeps only the current tensor resident.
// The data can still be read afterwards (it is paged back in).
func (f *File) Release(e Entry) {
	if f.m != nil {
		f.m.Release(int64(e.Offset), int64(e.Size))
	}
}

// Stream reads the bytes of entries es, one after the other, in chunks of
// at most chunk bytes (never spanning two entries), with O_DIRECT reads
// ahead of the caller where they are not in the page cache (see
// mmapfile.NewStream). Close it when done.
func (f *File) Stream(es []Entry, chunk int) *mmapfile.Stream {
	return mmapfile.NewStream([]*mmapfile.File{f.m}, len(es), func(i int) ([]byte, error) { return f.Data(es[i]), nil }, chunk)
}

// Tensor returns the named tensor's dtype and bytes.
func (f *File) Tensor(name string) (DType, []byte, error) {
	e, ok := f.Lookup(name)
	if !ok {
		return 0, nil, fmt.Errorf("%s: no tensor %q", f.Path, name)
	}
	return e.DType, f.Data(e), nil
}

// Validate checks what the parser does not: tensors do not overlap, and
// the byte length agrees with the dtype's block size where it is known.
func (f *File) Validate() error {
	idx := make([]int, len(f.Entries))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return f.Entries[idx[a]].Offset < f.Entries[idx[b]].Offset })
	for k := 1; k < len(idx); k++ {
		a, b := f.Entries[idx[k-1]], f.Entries[idx[k]]
		if a.Offset+a.Size > b.Offset {
			return fmt.Errorf("tensors %q [%d,+%d) and %q [%d,+%d) overlap", a.Name, a.Offset, a.Size, b.Name, b.Offset, b.Size)
		}
	}
	for _, e := range f.Entries {
		_, bs, ok := e.DType.BlockSize()
		if !ok {
			return fmt.Errorf("tensor %q: unknown dtype code %d", e.Name, int32(e.DType))
		}
		if e.Size%uint64(bs) != 0 {
			return fmt.Errorf("tensor %q: %d bytes is not a whole number of %v blocks (%d bytes)", e.Name, e.Size, e.DType, bs)
		}
	}
	return nil
}

// checkNames rejects names the v1 index cannot hold.
func checkNames(names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		for i := 0; i < len(n); i++ {
			if n[i] >= 0x80 {
				return fmt.Errorf("tensor name %q is not ASCII (mllm's index counts characters, not bytes)", n)
			}
		}
		if seen[n] {
			return fmt.Errorf("duplicate tensor name %q", n)
		}
		seen[n] = true
	}
	return nil
}

// IndexSize is the v1 index size for the given names.
func IndexSize(names []string) uint64 {
	var n uint64
	for _, s := range names {
		n += 4 + uint64(len(s)) + 8 + 8 + 4
	}
	return n
}

// Writer streams tensors into a .mllm file. Create it with the full list
// of names (their order is the index and data order), then call
// WriteTensor once per name in that order, then Close.
type Writer struct {
	w       io.Writer
	names   []string
	entries []Entry
	pos     uint64
	closed  bool
	// declared is the final index written up front (NewWriterSized): each
	// tensor must match it, and Close has nothing to patch.
	declared []Entry
}

// NewWriter writes the header and a zeroed index for names.
func NewWriter(w io.WriteSeeker, names []string) (*Writer, error) {
	if err := checkNames(names); err != nil {
		return nil, err
	}
	isz := IndexSize(names)
	hdr := make([]byte, 12)
	binary.LittleEndian.PutUint32(hdr, Magic)
	binary.LittleEndian.PutUint64(hdr[4:], isz)
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	// Zeros, as converter.py writes them, in bounded chunks.
	zero := make([]byte, 64<<10)
	for left := isz; left > 0; {
		n := min(left, uint64(len(zero)))
		if _, err := w.Write(zero[:n]); err != nil {
			return nil, err
		}
		left -= n
	}
	return &Writer{w: w, names: names, pos: 12 + isz}, nil
}

// NewWriterSized writes the header and the final index for tensors whose
// dtypes and sizes are known in advance, so that the file is written in
// order, front to back (a writer can hash it as it goes); WriteTensor and
// WriteTensorFrom then check each tensor against its declaration. The
// file's bytes are those NewWriter and Close produce.
func NewWriterSized(w io.Writer, names []string, dtypes []DType, sizes []uint64) (*Writer, error) {
	if len(dtypes) != len(names) || len(sizes) != len(names) {
		return nil, fmt.Errorf("%d names, %d dtypes, %d sizes", len(names), len(dtypes), len(sizes))
	}
	if err := checkNames(names); err != nil {
		return nil, err
	}
	isz := IndexSize(names)
	decl := make([]Entry, len(names))
	pos := 12 + isz
	for i, n := range names {
		decl[i] = Entry{Name: n, Size: sizes[i], Offset: pos, DType: dtypes[i]}
		pos += sizes[i]
	}
	hdr := make([]byte, 12, 12+isz)
	binary.LittleEndian.PutUint32(hdr, Magic)
	binary.LittleEndian.PutUint64(hdr[4:], isz)
	hdr = append(hdr, encodeIndex(decl)...)
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	return &Writer{w: w, names: names, pos: 12 + isz, declared: decl}, nil
}

// encodeIndex is the v1 index of entries.
func encodeIndex(entries []Entry) []byte {
	var buf bytes.Buffer
	le := binary.LittleEndian
	for _, e := range entries {
		// converter.py renames only in the index; the length is unchanged.
		name := renameIndex(e.Name)
		binary.Write(&buf, le, int32(len(name)))
		buf.WriteString(name)
		binary.Write(&buf, le, e.Size)
		binary.Write(&buf, le, e.Offset)
		binary.Write(&buf, le, int32(e.DType))
	}
	return buf.Bytes()
}

// WriteTensor appends the next tensor's bytes.
func (w *Writer) WriteTensor(name string, dtype DType, data []byte) error {
	return w.WriteTensorFrom(name, dtype, func(out io.Writer) (int64, error) {
		n, err := out.Write(data)
		return int64(n), err
	})
}

// WriteTensorFrom appends the next tensor, its bytes produced by fill
// (which returns the number of bytes written). It lets callers stream a
// large tensor without materializing it.
func (w *Writer) WriteTensorFrom(name string, dtype DType, fill func(io.Writer) (int64, error)) error {
	i := len(w.entries)
	if i >= len(w.names) {
		return fmt.Errorf("tensor %q: more tensors than the %d declared", name, len(w.names))
	}
	if w.names[i] != name {
		return fmt.Errorf("tensor %q written where %q was declared", name, w.names[i])
	}
	n, err := fill(w.w)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", name, err)
	}
	if w.declared != nil {
		if d := w.declared[i]; d.DType != dtype || d.Size != uint64(n) {
			return fmt.Errorf("tensor %q: wrote %d bytes of %v, declared %d bytes of %v", name, n, dtype, d.Size, d.DType)
		}
	}
	w.entries = append(w.entries, Entry{Name: name, Size: uint64(n), Offset: w.pos, DType: dtype})
	w.pos += uint64(n)
	return nil
}

// Close patches the index (nothing to patch after NewWriterSized). The
// underlying writer is not closed.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if len(w.entries) != len(w.names) {
		return fmt.Errorf("%d of %d declared tensors written", len(w.entries), len(w.names))
	}
	if w.declared != nil {
		return nil // the index written first is final
	}
	ws := w.w.(io.WriteSeeker) // NewWriter's
	if _, err := ws.Seek(12, io.SeekStart); err != nil {
		return err
	}
	if _, err := ws.Write(encodeIndex(w.entries)); err != nil {
		return err
	}
	_, err := ws.Seek(0, io.SeekEnd)
	return err
}

// renameIndex applies converter.py's index-only rename (spec §6.4):
// "_weight" → ".weight", then "_bias" → ".bias", every occurrence.
func renameIndex(s string) string {
	s = string(bytes.ReplaceAll([]byte(s), []byte("_weight"), []byte(".weight")))
	return string(bytes.ReplaceAll([]byte(s), []byte("_bias"), []byte(".bias")))
}
