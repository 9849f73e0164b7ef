// Package pth reads and writes PyTorch checkpoint files (.pth, .bin, .pt).
//
// # Reading
//
// Open memory-maps a file and accepts both torch.save formats:
//
//   - the zip format (torch ≥ 1.6): a STORED zip archive holding
//     <prefix>/data.pkl, one <prefix>/data/<key> record per storage, and
//     optional version/byteorder records. The prefix is whatever the writer
//     chose (the file stem in torch 1.x, "archive" in torch 2.x); the reader
//     locates the single */data.pkl.
//   - the legacy format (torch.save(..., _use_new_zipfile_serialization=False)):
//     four pickles (magic number, protocol version, sys info, the object) then
//     the list of storage keys and each storage as int64 numel + raw bytes.
//
// The object pickle is interpreted by a small allowlisting unpickler. It
// never imports or calls anything: a GLOBAL naming anything other than the
// torch storage classes, torch._utils._rebuild_tensor{,_v2},
// _rebuild_parameter{,_with_state}, torch._tensor._rebuild_from_type_v2,
// torch.nn.parameter.Parameter, torch.Tensor, torch.Size or
// collections.OrderedDict is rejected with an error (os.system,
// builtins.eval, ... never run). Values come back as nil, bool, int64,
// float64, string, []byte, []any (list), Tuple, *Dict and *tensor.Tensor.
//
// Storage location strings ("cpu", "cuda:0") are ignored, so an R file
// saved on a GPU loads anywhere. Supported storage dtypes: float32,
// float16, bfloat16, float64, int8, uint8, int16, int32, int64 and bool.
//
// A tensor's Data returns C-contiguous little-endian bytes: a slice of the
// memory map when the tensor is a contiguous view of its storage (zero
// copy), otherwise (transposed, strided or expanded views) a freshly
// gathered copy. Tensors sharing a storage stay valid until File.Close.
//
// # Writing
//
// Save and Write produce the zip format that torch.load(path,
// weights_only=True) accepts on torch 1.13: a protocol-2 pickle using only
// GLOBAL/REDUCE of torch._utils._rebuild_tensor_v2, torch.*Storage and
// collections.OrderedDict, dicts in insertion order, records STORED with
// their data 64-byte aligned, and a "version" record of 3. Every tensor is
// written as its own CONTIGUOUS storage of its logical shape — views are
// never re-created. In particular a transposed int8 weight that the QNN
// export keeps as a [in,out] view is written as a contiguous [in,out]
// tensor: torch.load gives back equal values (and .is_contiguous() is
// true), and converter.py writes the same bytes for it. Note that torch
// 1.13's weights_only unpickler has no BINFLOAT opcode, so a Python float
// (not a tensor) in the saved object cannot be loaded with weights_only=True.
package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/qnnkit/qnnkit/pkg/mmapfile"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// File is an opened PyTorch file.
type File struct {
	// Root is the unpickled object (usually a *Dict state dict).
	Root any
	// Path is the file that was opened ("" for Parse).
	Path string
	// Format is "zip" or "legacy".
	Format string
	// Prefix is the zip archive's root folder ("" for legacy files).
	Prefix string
	m      *mmapfile.File
}

// Open maps path and parses it. The tensors alias the map: call Close
// when they are no longer used.
func Open(p string) (*File, error) {
	m, err := mmapfile.Open(p)
	if err != nil {
		return nil, err
	}
	// The zip records' headers are spread over the whole file.
	m.RandomAccess(true)
	f, err := Parse(m.Bytes())
	m.RandomAccess(false)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	f.Path = p
	f.m = m
	return f, nil
}

// Close releases the memory map. Tensors read from f must not be used
// afterwards.
func (f *File) Close() error {
	if f == nil || f.m == nil {
		return nil
	}
	err := f.m.Close()
	f.m = nil
	return err
}

// Map returns the memory map the tensors alias (nil for Parse), for
// callers that stream them (mmapfile.File.Stream).
func (f *File) Map() *mmapfile.File { return f.m }

// Mapping returns the memory-mapped file contents (nil for Parse).
func (f *File) Mapping() []byte {
	if f.m == nil {
		return nil
	}
	return f.m.Bytes()
}

// legacyMagic is the first pickle of a legacy torch.save file: protocol 2,
// LONG1 of 10 bytes 0x1950a86a20f9469cfc6c, STOP.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e}

// Parse reads a PyTorch file held in memory. Tensors alias data.
func Parse(data []byte) (*File, error) {
	switch {
	case len(data) >= 4 && bytes.Equal(data[:4], []byte("PK\x03\x04")):
		return parseZip(data)
	case bytes.HasPrefix(data, legacyMagic):
		return parseLegacy(data)
	case len(data) >= 262 && string(data[257:262]) == "ustar":
		return nil, fmt.Errorf("offset 0: tar-based torch files (torch < 0.4) are not supported")
	}
	n := min(len(data), 8)
	return nil, fmt.Errorf("offset 0: not a PyTorch file (starts % x; want a zip archive or the legacy pickle magic)", data[:n])
}

func parseZip(data []byte) (*File, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("zip archive (truncated or corrupt?): %w", err)
	}
	records := map[string]*zip.File{}
	var pkl []string
	for _, zf := range zr.File {
		if _, dup := records[zf.Name]; dup {
			return nil, fmt.Errorf("zip archive: record %q appears twice", zf.Name)
		}
		records[zf.Name] = zf
		if zf.Name == "data.pkl" || (path.Base(zf.Name) == "data.pkl" && strings.Count(zf.Name, "/") == 1) {
			pkl = append(pkl, zf.Name)
		}
	}
	if len(pkl) != 1 {
		return nil, fmt.Errorf("zip archive: want exactly one */data.pkl record, found %d %q", len(pkl), pkl)
	}
	prefix := strings.TrimSuffix(pkl[0], "data.pkl")
	rec := func(name string) ([]byte, error) {
		zf, ok := records[prefix+name]
		if !ok {
			return nil, fmt.Errorf("zip archive: no record %q", prefix+name)
		}
		return recordBytes(data, zf)
	}
	if bo, err := rec("byteorder"); err == nil {
		if s := strings.TrimSpace(string(bo)); s != "little" {
			return nil, fmt.Errorf("zip record %sbyteorder: %q, only little-endian files are supported", prefix, s)
		}
	}
	pickle, err := rec("data.pkl")
	if err != nil {
		return nil, err
	}
	r := newRebuilder()
	r.storageBytes = func(key string) ([]byte, error) { return rec("data/" + key) }
	u := r.unpickler(pickle)
	root, err := u.load()
	if err != nil {
		return nil, fmt.Errorf("%sdata.pkl: %w", prefix, err)
	}
	if err := r.checkTensors(); err != nil {
		return nil, err
	}
	return &File{Root: root, Format: "zip", Prefix: strings.TrimSuffix(prefix, "/")}, nil
}

// recordBytes returns a zip record's contents: a slice of data for STORED
// records (torch's only method), a decompressed copy otherwise.
func recordBytes(data []byte, zf *zip.File) ([]byte, error) {
	if zf.Method == zip.Store {
		off, err := zf.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("zip record %q: %w", zf.Name, err)
		}
		n := zf.UncompressedSize64
		if zf.CompressedSize64 != n {
			return nil, fmt.Errorf("zip record %q: stored with compressed size %d != size %d", zf.Name, zf.CompressedSize64, n)
		}
		if off < 0 || uint64(off) > uint64(len(data)) || n > uint64(len(data))-uint64(off) {
			return nil, fmt.Errorf("zip record %q: data [%d, +%d) outside the file of %d bytes (truncated?)", zf.Name, off, n, len(data))
		}
		return data[off : uint64(off)+n], nil
	}
	if zf.UncompressedSize64 > 1<<40 {
		return nil, fmt.Errorf("zip record %q: uncompressed size %d too large", zf.Name, zf.UncompressedSize64)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("zip record %q: %w", zf.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, int64(zf.UncompressedSize64)+1))
	if err != nil {
		return nil, fmt.Errorf("zip record %q: %w", zf.Name, err)
	}
	if uint64(len(b)) != zf.UncompressedSize64 {
		return nil, fmt.Errorf("zip record %q: %d bytes, header says %d", zf.Name, len(b), zf.UncompressedSize64)
	}
	return b, nil
}

func parseLegacy(data []byte) (*File, error) {
	pos := len(legacyMagic)
	// protocol version
	u := &unpickler{data: data[pos:], allowed: func(global) bool { return false }}
	ver, err := u.load()
	if err != nil {
		return nil, fmt.Errorf("legacy protocol version pickle at offset %d: %w", pos, err)
	}
	if v, ok := ver.(int64); !ok || v != 1001 {
		return nil, fmt.Errorf("legacy protocol version pickle at offset %d: %v, want 1001", pos, ver)
	}
	pos += u.pos
	// sys info
	u = &unpickler{data: data[pos:], allowed: func(global) bool { return false }}
	info, err := u.load()
	if err != nil {
		return nil, fmt.Errorf("legacy sys_info pickle at offset %d: %w", pos, err)
	}
	if d, ok := info.(*Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le != true {
			return nil, fmt.Errorf("legacy sys_info at offset %d: big-endian files are not supported", pos)
		}
	}
	pos += u.pos
	// the object
	r := newRebuilder()
	var areas map[string][]byte
	r.storageBytes = func(key string) ([]byte, error) {
		b, ok := areas[key]
		if !ok {
			return nil, fmt.Errorf("storage %q is not in the file's storage list", key)
		}
		return b, nil
	}
	objPos := pos
	u = r.unpickler(data[pos:])
	root, err := u.load()
	if err != nil {
		return nil, fmt.Errorf("legacy object pickle at offset %d: %w", objPos, err)
	}
	pos += u.pos
	// storage keys
	u = &unpickler{data: data[pos:], allowed: func(global) bool { return false }}
	kv, err := u.load()
	if err != nil {
		return nil, fmt.Errorf("legacy storage-key pickle at offset %d: %w", pos, err)
	}
	keys, ok := kv.([]any)
	if !ok {
		return nil, fmt.Errorf("legacy storage-key pickle at offset %d: %T, want a list", pos, kv)
	}
	pos += u.pos
	areas = map[string][]byte{}
	for _, k := range keys {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("legacy storage key %v (%T) is not a string", k, k)
		}
		st, ok := r.storages[key]
		if !ok {
			return nil, fmt.Errorf("legacy storage %q at offset %d is listed but never used", key, pos)
		}
		if len(data)-pos < 8 {
			return nil, fmt.Errorf("legacy storage %q: truncated at offset %d", key, pos)
		}
		n := int64(binary.LittleEndian.Uint64(data[pos:]))
		if n != st.numel {
			return nil, fmt.Errorf("legacy storage %q at offset %d: %d elements, the pickle says %d", key, pos, n, st.numel)
		}
		pos += 8
		nb := n * int64(st.dtype.Size())
		if nb > int64(len(data)-pos) {
			return nil, fmt.Errorf("legacy storage %q at offset %d: %d bytes exceed the file (%d bytes left; truncated?)", key, pos, nb, len(data)-pos)
		}
		if _, dup := areas[key]; dup {
			return nil, fmt.Errorf("legacy storage %q listed twice", key)
		}
		areas[key] = data[pos : pos+int(nb)]
		pos += int(nb)
	}
	for key := range r.storages {
		if _, ok := areas[key]; !ok {
			return nil, fmt.Errorf("legacy storage %q is used but missing from the storage list", key)
		}
	}
	if err := r.checkTensors(); err != nil {
		return nil, err
	}
	return &File{Root: root, Format: "legacy"}, nil
}

// storageDTypes maps torch storage class names to element types.
var storageDTypes = map[string]tensor.DType{
	"FloatStorage":    tensor.F32,
	"HalfStorage":     tensor.F16,
	"BFloat16Storage": tensor.BF16,
	"DoubleStorage":   tensor.F64,
	"CharStorage":     tensor.I8,
	"ByteStorage":     tensor.U8,
	"ShortStorage":    tensor.I16,
	"IntStorage":      tensor.I32,
	"LongStorage":     tensor.I64,
	"BoolStorage":     tensor.Bool,
}

// StorageClass returns the torch storage class name for d.
func StorageClass(d tensor.DType) (string, error) {
	for k, v := range storageDTypes {
		if v == d {
			return k, nil
		}
	}
	return "", fmt.Errorf("dtype %v has no torch storage class", d)
}

// allowedGlobal is the unpickler's allowlist.
func allowedGlobal(g global) bool {
	switch g.module {
	case "torch", "torch.cuda":
		// Any storage class name is accepted here (it is only a name,
		// never constructed) so that an unsupported dtype such as
		// ComplexFloatStorage is reported as such by persistentLoad.
		if strings.HasSuffix(g.name, "Storage") {
			return true
		}
		return g.module == "torch" && (g.name == "Size" || g.name == "Tensor")
	case "torch._utils":
		switch g.name {
		case "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state":
			return true
		}
	case "torch._tensor":
		return g.name == "_rebuild_from_type_v2"
	case "torch.nn.parameter":
		return g.name == "Parameter"
	case "collections":
		return g.name == "OrderedDict"
	}
	return false
}

// rebuilder holds the storages and tensors of one object pickle.
type rebuilder struct {
	storageBytes func(key string) ([]byte, error)
	storages     map[string]storage
	tensors      []*view
}

func newRebuilder() *rebuilder { return &rebuilder{storages: map[string]storage{}} }

func (r *rebuilder) unpickler(data []byte) *unpickler {
	return &unpickler{data: data, allowed: allowedGlobal, persist: r.persistentLoad, reduce: r.call}
}

// checkTensors verifies every tensor's storage size now that the storages
// are located (legacy files list them after the object).
func (r *rebuilder) checkTensors() error {
	for _, v := range r.tensors {
		if err := v.checkStorage(); err != nil {
			return err
		}
	}
	return nil
}

// persistentLoad resolves ('storage', cls, key, location, numel[, view]).
func (r *rebuilder) persistentLoad(pid any) (any, error) {
	t, ok := pid.(Tuple)
	if !ok || len(t) < 5 || len(t) > 6 {
		return nil, fmt.Errorf("%v: want ('storage', class, key, location, numel)", pid)
	}
	if s, _ := t[0].(string); s != "storage" {
		return nil, fmt.Errorf("%v: only 'storage' persistent ids are allowed", t[0])
	}
	cls, ok := t[1].(global)
	if !ok {
		return nil, fmt.Errorf("storage class %v (%T) is not a torch storage class", t[1], t[1])
	}
	dt, ok := storageDTypes[cls.name]
	if !ok {
		return nil, fmt.Errorf("unsupported storage dtype %s", cls)
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key %v (%T) is not a string", t[2], t[2])
	}
	if _, ok := t[3].(string); !ok {
		return nil, fmt.Errorf("storage %q: location %v is not a string", key, t[3])
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 || numel > 1<<40 {
		return nil, fmt.Errorf("storage %q: invalid element count %v", key, t[4])
	}
	st, seen := r.storages[key]
	if seen {
		if st.dtype != dt || st.numel != numel {
			return nil, fmt.Errorf("storage %q referenced as %v×%d and as %v×%d", key, st.dtype, st.numel, dt, numel)
		}
	} else {
		st = storage{key: key, dtype: dt, numel: numel}
		want := numel * int64(dt.Size())
		st.data = func() ([]byte, error) {
			b, err := r.storageBytes(key)
			if err != nil {
				return nil, err
			}
			if int64(len(b)) != want {
				return nil, fmt.Errorf("storage %q: record has %d bytes, want %d (%d × %v)", key, len(b), want, numel, dt)
			}
			return b, nil
		}
		r.storages[key] = st
	}
	if len(t) == 6 && t[5] != nil {
		// Legacy view metadata: (view_key, offset, view_size) in elements.
		vm, ok := t[5].(Tuple)
		if !ok || len(vm) != 3 {
			return nil, fmt.Errorf("storage %q: view metadata %v", key, t[5])
		}
		off, ok1 := vm[1].(int64)
		sz, ok2 := vm[2].(int64)
		if !ok1 || !ok2 || off < 0 || sz < 0 || off > numel || sz > numel-off {
			return nil, fmt.Errorf("storage %q: view [%v, +%v) outside %d elements", key, vm[1], vm[2], numel)
		}
		base := st
		es := int64(dt.Size())
		return storage{key: key, dtype: dt, numel: sz, data: func() ([]byte, error) {
			b, err := base.data()
			if err != nil {
				return nil, err
			}
			return b[off*es : (off+sz)*es], nil
		}}, nil
	}
	return st, nil
}

// call interprets REDUCE/NEWOBJ of an allowlisted global.
func (r *rebuilder) call(fn global, args Tuple) (any, error) {
	switch fn.String() {
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		if len(args) < 4 {
			return nil, fmt.Errorf("%d arguments, want at least 4", len(args))
		}
		return r.rebuildTensor(args[0], args[1], args[2], args[3])
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.nn.parameter.Parameter":
		if len(args) < 1 {
			return nil, fmt.Errorf("no tensor argument")
		}
		tv, ok := args[0].(*tensorValue)
		if !ok {
			return nil, fmt.Errorf("argument is %T, not a tensor", args[0])
		}
		return tv, nil
	case "torch._tensor._rebuild_from_type_v2":
		if len(args) < 3 {
			return nil, fmt.Errorf("%d arguments, want 4", len(args))
		}
		f, ok := args[0].(global)
		if !ok {
			return nil, fmt.Errorf("function %T is not a global", args[0])
		}
		typ, ok := args[1].(global)
		if !ok || (typ.String() != "torch.Tensor" && typ.String() != "torch.nn.parameter.Parameter") {
			return nil, fmt.Errorf("type %v is not torch.Tensor or Parameter", args[1])
		}
		inner, ok := args[2].(Tuple)
		if !ok {
			return nil, fmt.Errorf("arguments %T are not a tuple", args[2])
		}
		return r.call(f, inner)
	case "collections.OrderedDict":
		d := &Dict{Ordered: true}
		if len(args) == 0 {
			return d, nil
		}
		var items []any
		switch x := args[0].(type) {
		case *list:
			items = x.items
		case Tuple:
			items = x
		default:
			return nil, fmt.Errorf("OrderedDict(%T)", args[0])
		}
		for _, it := range items {
			p, ok := it.(Tuple)
			if !ok || len(p) != 2 {
				return nil, fmt.Errorf("OrderedDict item %T is not a pair", it)
			}
			d.Set(p[0], p[1])
		}
		return d, nil
	case "torch.Size":
		if len(args) == 0 {
			return Tuple{}, nil
		}
		switch x := args[0].(type) {
		case Tuple:
			return x, nil
		case *list:
			return Tuple(x.items), nil
		}
		return nil, fmt.Errorf("torch.Size(%T)", args[0])
	}
	return nil, fmt.Errorf("calling %v is not allowed", fn)
}

func intsOf(v any, what string) ([]int64, error) {
	var items []any
	switch x := v.(type) {
	case Tuple:
		items = x
	case *list:
		items = x.items
	default:
		return nil, fmt.Errorf("%s is %T, want a tuple of ints", what, v)
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := it.(int64)
		if !ok {
			return nil, fmt.Errorf("%s[%d] is %T, want an int", what, i, it)
		}
		out[i] = n
	}
	return out, nil
}

func (r *rebuilder) rebuildTensor(st, off, size, stride any) (any, error) {
	s, ok := st.(storage)
	if !ok {
		return nil, fmt.Errorf("storage argument is %T", st)
	}
	o, ok := off.(int64)
	if !ok || o < 0 {
		return nil, fmt.Errorf("storage %q: storage_offset %v", s.key, off)
	}
	sz, err := intsOf(size, "size")
	if err != nil {
		return nil, fmt.Errorf("storage %q: %w", s.key, err)
	}
	str, err := intsOf(stride, "stride")
	if err != nil {
		return nil, fmt.Errorf("storage %q: %w", s.key, err)
	}
	v, err := newView(s, o, sz, str)
	if err != nil {
		return nil, err
	}
	r.tensors = append(r.tensors, v)
	return &tensorValue{t: v.tensor()}, nil
}

// maxOverlapElems bounds views with more elements than their storage.
const maxOverlapElems = 1 << 22

// view is a tensor as torch describes it: a strided window on a storage.
type view struct {
	st     storage
	offset int64
	shape  []int64
	stride []int64
	numel  int64
}

func newView(s storage, off int64, shape, stride []int64) (*view, error) {
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("storage %q: size %v and stride %v differ in length", s.key, shape, stride)
	}
	if len(shape) > 64 {
		return nil, fmt.Errorf("storage %q: %d dimensions", s.key, len(shape))
	}
	n := int64(1)
	for i, d := range shape {
		if d < 0 || stride[i] < 0 || stride[i] > 1<<40 {
			return nil, fmt.Errorf("storage %q: invalid size %v / stride %v", s.key, shape, stride)
		}
		if d > 0 && n > (1<<40)/d {
			return nil, fmt.Errorf("storage %q: size %v too large", s.key, shape)
		}
		n *= d
	}
	// Zero or overlapping strides (expand()) can make a view larger than
	// its storage; bound what materializing it may allocate.
	if n > s.numel && n > maxOverlapElems {
		return nil, fmt.Errorf("storage %q: view of %d elements over a storage of %d (overlapping view larger than %d elements)", s.key, n, s.numel, maxOverlapElems)
	}
	v := &view{st: s, offset: off, shape: shape, stride: stride, numel: n}
	if n > 0 {
		last := off
		for i, d := range shape {
			last += (d - 1) * stride[i]
		}
		if last >= s.numel {
			return nil, fmt.Errorf("storage %q: view offset %d size %v stride %v reaches element %d of %d", s.key, off, shape, stride, last, s.numel)
		}
	}
	return v, nil
}

// contiguous reports whether the view is C-contiguous.
func (v *view) contiguous() bool {
	want := int64(1)
	for i := len(v.shape) - 1; i >= 0; i-- {
		if v.shape[i] != 1 && v.stride[i] != want {
			return false
		}
		want *= v.shape[i]
	}
	return true
}

func (v *view) checkStorage() error {
	_, err := v.st.data()
	return err
}

func (v *view) tensor() *tensor.Tensor {
	shape := make([]int, len(v.shape))
	for i, d := range v.shape {
		shape[i] = int(d)
	}
	return &tensor.Tensor{DType: v.st.dtype, Shape: shape, Data: v.data}
}

// data returns the view's C-contiguous bytes.
func (v *view) data() ([]byte, error) {
	b, err := v.st.data()
	if err != nil {
		return nil, err
	}
	es := int64(v.st.dtype.Size())
	if v.numel == 0 {
		return []byte{}, nil
	}
	if v.contiguous() {
		return b[v.offset*es : (v.offset+v.numel)*es], nil
	}
	out := make([]byte, v.numel*es)
	gather(out, b, v.offset, v.shape, v.stride, int(es))
	return out, nil
}

// gather copies a strided view element by element in C order.
func gather(out, src []byte, off int64, shape, stride []int64, es int) {
	nd := len(shape)
	idx := make([]int64, nd)
	pos := off
	inner, istride := shape[nd-1], stride[nd-1]
	o := 0
	for {
		p := pos
		for j := int64(0); j < inner; j++ {
			copy(out[o:o+es], src[p*int64(es):p*int64(es)+int64(es)])
			o += es
			p += istride
		}
		// advance the outer index
		d := nd - 2
		for ; d >= 0; d-- {
			idx[d]++
			pos += stride[d]
			if idx[d] < shape[d] {
				break
			}
			pos -= stride[d] * shape[d]
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}

// Tensors returns every tensor in root with a dotted path name (dict keys,
// list/tuple indices), in depth-first insertion order. Tensors keep their
// Data; only the Name differs.
func Tensors(root any) []*tensor.Tensor {
	var out []*tensor.Tensor
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		join := func(k string) string {
			if prefix == "" {
				return k
			}
			return prefix + "." + k
		}
		switch x := v.(type) {
		case *tensor.Tensor:
			t := *x
			t.Name = prefix
			out = append(out, &t)
		case *Dict:
			for i, k := range x.Keys {
				walk(join(KeyString(k)), x.Values[i])
			}
		case []any:
			for i, it := range x {
				walk(join(fmt.Sprint(i)), it)
			}
		case Tuple:
			for i, it := range x {
				walk(join(fmt.Sprint(i)), it)
			}
		}
	}
	walk("", root)
	return out
}

// KeyString formats a dict key for a tensor name.
func KeyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case nil:
		return "None"
	}
	return fmt.Sprint(k)
}

// StateDict returns the tensors of a state dict the way mllm's converter.py
// takes them: if root has a "model" dict it is used instead; keys starting
// with "_" and non-tensor values are skipped; order is insertion order.
// Nested dicts, which crash converter.py (spec Q15), are flattened with "."
// (the same skip rules apply at every level). Names must be unique.
func StateDict(root any) ([]*tensor.Tensor, error) {
	d, ok := root.(*Dict)
	if !ok {
		return nil, fmt.Errorf("the file holds a %s, not a dict of tensors", typeName(root))
	}
	if m, ok := d.Get("model"); ok {
		if md, ok := m.(*Dict); ok {
			d = md
		}
	}
	var out []*tensor.Tensor
	seen := map[string]bool{}
	var walk func(prefix string, d *Dict, depth int) error
	walk = func(prefix string, d *Dict, depth int) error {
		if depth > maxDepth {
			return fmt.Errorf("dicts nested deeper than %d", maxDepth)
		}
		for i, k := range d.Keys {
			var ks string
			switch x := k.(type) {
			case string:
				ks = x
			case int64:
				ks = fmt.Sprint(x)
			default:
				return fmt.Errorf("key %v (%T) under %q is not a string", k, k, prefix)
			}
			if strings.HasPrefix(ks, "_") {
				continue
			}
			name := ks
			if prefix != "" {
				name = prefix + "." + ks
			}
			switch v := d.Values[i].(type) {
			case *tensor.Tensor:
				if seen[name] {
					return fmt.Errorf("tensor name %q appears twice after flattening nested dicts", name)
				}
				seen[name] = true
				t := *v
				t.Name = name
				out = append(out, &t)
			case *Dict:
				if err := walk(name, v, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("", d, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case []any:
		return "list"
	case Tuple:
		return "tuple"
	case *Dict:
		return "dict"
	case *tensor.Tensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}
