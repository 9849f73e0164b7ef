package pth

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// Save writes root to path in torch's zip format, atomically (the file
// appears only once complete). The archive's root folder is the file stem,
// as torch 1.x names it.
func Save(path string, root any) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := Write(f, ArchiveName(path), root); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// ArchiveName is the archive root folder torch 1.x gives a file saved to
// path: the file stem ("archive" when it is empty).
func ArchiveName(path string) string {
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if stem == "" {
		stem = "archive"
	}
	return stem
}

// Write writes root to w in torch's zip format with archiveName as the
// root folder. Supported values: nil, bool, int (int, int64), float64,
// string, []any, []*tensor.Tensor, Tuple, *Dict and *tensor.Tensor (any
// dtype, including 0-dim). Each tensor becomes one contiguous storage.
func Write(w io.Writer, archiveName string, root any) error {
	if archiveName == "" || strings.ContainsAny(archiveName, "/\\") {
		return fmt.Errorf("archive name %q must be a non-empty folder name", archiveName)
	}
	p := &pickler{}
	p.buf = append(p.buf, opProto, 2)
	if err := p.value(root, 0); err != nil {
		return err
	}
	p.buf = append(p.buf, opStop)

	cw := &countWriter{w: w}
	zw := zip.NewWriter(cw)
	put := func(name string, data []byte) error {
		if err := zw.Flush(); err != nil {
			return err
		}
		full := archiveName + "/" + name
		// Pad the local header's extra field so data starts 64-byte
		// aligned, as torch does (header id "FB").
		hdr := int64(30 + len(full) + 4)
		pad := (64 - (cw.n+hdr)%64) % 64
		extra := make([]byte, 4+pad)
		binary.LittleEndian.PutUint16(extra, 0x4246)
		binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
		fh := &zip.FileHeader{
			Name:               full,
			Method:             zip.Store,
			CRC32:              crc32.ChecksumIEEE(data),
			CompressedSize64:   uint64(len(data)),
			UncompressedSize64: uint64(len(data)),
			Extra:              extra,
		}
		fw, err := zw.CreateRaw(fh)
		if err != nil {
			return fmt.Errorf("zip record %s: %w", full, err)
		}
		if _, err := fw.Write(data); err != nil {
			return fmt.Errorf("zip record %s: %w", full, err)
		}
		return nil
	}
	if err := put("data.pkl", p.buf); err != nil {
		return err
	}
	for i, t := range p.tensors {
		b, err := t.Data()
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if int64(len(b)) != t.NumBytes() {
			return fmt.Errorf("tensor %q: %d bytes of data for shape %v %v (want %d)", t.Name, len(b), t.Shape, t.DType, t.NumBytes())
		}
		if err := put(fmt.Sprintf("data/%d", i), b); err != nil {
			return err
		}
	}
	if err := put("version", []byte("3\n")); err != nil {
		return err
	}
	return zw.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// pickler writes the protocol-2 subset that torch 1.13's weights_only
// unpickler accepts.
type pickler struct {
	buf     []byte
	tensors []*tensor.Tensor
}

func (p *pickler) global(module, name string) {
	p.buf = append(p.buf, opGlobal)
	p.buf = append(p.buf, module...)
	p.buf = append(p.buf, '\n')
	p.buf = append(p.buf, name...)
	p.buf = append(p.buf, '\n')
}

func (p *pickler) str(s string) {
	p.buf = append(p.buf, opBinUnicode)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(s)))
	p.buf = append(p.buf, s...)
}

func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.buf = append(p.buf, opBinInt1, byte(v))
	case v >= 0 && v < 1<<16:
		p.buf = append(p.buf, opBinInt2)
		p.buf = binary.LittleEndian.AppendUint16(p.buf, uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.buf = append(p.buf, opBinInt)
		p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(int32(v)))
	default:
		// LONG1: minimal two's-complement little-endian bytes.
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		n := 8
		for n > 1 {
			top, next := b[n-1], b[n-2]
			if (top == 0 && next&0x80 == 0) || (top == 0xff && next&0x80 != 0) {
				n--
				continue
			}
			break
		}
		p.buf = append(p.buf, opLong1, byte(n))
		p.buf = append(p.buf, b[:n]...)
	}
}

func (p *pickler) tuple(items []func() error) error {
	switch len(items) {
	case 0:
		p.buf = append(p.buf, opEmptyTuple)
		return nil
	case 1, 2, 3:
		for _, f := range items {
			if err := f(); err != nil {
				return err
			}
		}
		p.buf = append(p.buf, opTuple1+byte(len(items)-1))
		return nil
	}
	p.buf = append(p.buf, opMark)
	for _, f := range items {
		if err := f(); err != nil {
			return err
		}
	}
	p.buf = append(p.buf, opTuple)
	return nil
}

func (p *pickler) ints(v []int64) {
	fs := make([]func() error, len(v))
	for i, x := range v {
		fs[i] = func() error { p.int(x); return nil }
	}
	p.tuple(fs)
}

const batch = 1000 // items per APPENDS/SETITEMS, as Python's pickler

func (p *pickler) value(v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("containers nested deeper than %d", maxDepth)
	}
	switch x := v.(type) {
	case nil:
		p.buf = append(p.buf, opNone)
	case bool:
		if x {
			p.buf = append(p.buf, opNewTrue)
		} else {
			p.buf = append(p.buf, opNewFalse)
		}
	case int:
		p.int(int64(x))
	case int64:
		p.int(x)
	case float64:
		p.buf = append(p.buf, opBinFloat)
		p.buf = binary.BigEndian.AppendUint64(p.buf, math.Float64bits(x))
	case string:
		p.str(x)
	case Tuple:
		fs := make([]func() error, len(x))
		for i, it := range x {
			fs[i] = func() error { return p.value(it, depth+1) }
		}
		return p.tuple(fs)
	case []any:
		p.buf = append(p.buf, opEmptyList)
		for i := 0; i < len(x); i += batch {
			p.buf = append(p.buf, opMark)
			for _, it := range x[i:min(i+batch, len(x))] {
				if err := p.value(it, depth+1); err != nil {
					return err
				}
			}
			p.buf = append(p.buf, opAppends)
		}
	case []*tensor.Tensor:
		l := make([]any, len(x))
		for i, t := range x {
			l[i] = t
		}
		return p.value(l, depth)
	case *Dict:
		if x.Ordered {
			p.global("collections", "OrderedDict")
			p.buf = append(p.buf, opEmptyTuple, opReduce)
		} else {
			p.buf = append(p.buf, opEmptyDict)
		}
		if len(x.Keys) != len(x.Values) {
			return fmt.Errorf("dict with %d keys and %d values", len(x.Keys), len(x.Values))
		}
		for i := 0; i < len(x.Keys); i += batch {
			p.buf = append(p.buf, opMark)
			for j := i; j < min(i+batch, len(x.Keys)); j++ {
				switch x.Keys[j].(type) {
				case nil, bool, int, int64, float64, string, Tuple:
				default:
					return fmt.Errorf("dict key %v of type %T", x.Keys[j], x.Keys[j])
				}
				if err := p.value(x.Keys[j], depth+1); err != nil {
					return err
				}
				if err := p.value(x.Values[j], depth+1); err != nil {
					return fmt.Errorf("key %v: %w", x.Keys[j], err)
				}
			}
			p.buf = append(p.buf, opSetItems)
		}
	case *tensor.Tensor:
		return p.tensor(x)
	default:
		return fmt.Errorf("cannot pickle a %T", v)
	}
	return nil
}

// tensor writes _rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()).
func (p *pickler) tensor(t *tensor.Tensor) error {
	cls, err := StorageClass(t.DType)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	shape := make([]int64, len(t.Shape))
	stride := make([]int64, len(t.Shape))
	s := int64(1)
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if t.Shape[i] < 0 {
			return fmt.Errorf("tensor %q: negative dimension in %v", t.Name, t.Shape)
		}
		shape[i] = int64(t.Shape[i])
		stride[i] = s
		s *= max(shape[i], 1)
	}
	key := len(p.tensors)
	p.tensors = append(p.tensors, t)
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.buf = append(p.buf, opMark)
	// persistent id ('storage', torch.XStorage, key, 'cpu', numel)
	p.buf = append(p.buf, opMark)
	p.str("storage")
	p.global("torch", cls)
	p.str(fmt.Sprint(key))
	p.str("cpu")
	p.int(int64(t.NumElements()))
	p.buf = append(p.buf, opTuple, opBinPersID)
	p.int(0)
	p.ints(shape)
	p.ints(stride)
	p.buf = append(p.buf, opNewFalse)
	p.global("collections", "OrderedDict")
	p.buf = append(p.buf, opEmptyTuple, opReduce)
	p.buf = append(p.buf, opTuple, opReduce)
	return nil
}
