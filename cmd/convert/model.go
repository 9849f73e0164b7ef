package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/manifest"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/mmapfile"
	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// source is an opened input: tensors in output order plus the memory maps
// they alias (which mmapfile.NewStream reads them from).
type source struct {
	tensors []*tensor.Tensor
	maps    []*mmapfile.File
	closers []io.Closer
}

func (s *source) Close() {
	for _, c := range s.closers {
		c.Close()
	}
}

// openSource opens --input_model with converter.py's ordering rules.
func openSource(path, typ string) (*source, error) {
	s := &source{}
	var err error
	switch {
	case strings.HasSuffix(path, ".json"):
		if typ == "torch" && filepath.Base(path) != "pytorch_model.bin.index.json" {
			return nil, fmt.Errorf("%s: a torch index must be named pytorch_model.bin.index.json (as converter.py requires)", path)
		}
		err = s.openIndex(path, typ)
	case typ == "torch":
		var ts []*tensor.Tensor
		ts, err = s.openPth(path)
		s.tensors = ts
	case typ == "safetensor":
		var ts []*tensor.Tensor
		ts, err = s.openSafetensors(path)
		// converter.py iterates safe_open(...).keys(): alphabetical.
		sort.SliceStable(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
		s.tensors = ts
	default:
		err = fmt.Errorf("unknown --type %q (want torch, safetensor or vocab)", typ)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	if len(s.tensors) == 0 {
		s.Close()
		return nil, fmt.Errorf("%s: No tensors to write", path)
	}
	return s, nil
}

func (s *source) openPth(path string) ([]*tensor.Tensor, error) {
	if strings.HasSuffix(path, ".safetensors") {
		return nil, fmt.Errorf("%s: a safetensors file needs --type=safetensor", path)
	}
	f, err := pth.Open(path)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, f)
	s.maps = append(s.maps, f.Map())
	ts, err := pth.StateDict(f.Root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, nil
}

func (s *source) openSafetensors(path string) ([]*tensor.Tensor, error) {
	ts, m, err := checkpoint.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, m)
	s.maps = append(s.maps, m)
	return ts, nil
}

// openIndex follows a sharded index's weight_map order.
func (s *source) openIndex(path, typ string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	keys, shards, err := weightMap(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	opened := map[string]map[string]*tensor.Tensor{}
	dir := filepath.Dir(path)
	for i, k := range keys {
		sh := shards[i]
		if strings.ContainsAny(sh, `/\`) || sh == ".." || sh == "." {
			return fmt.Errorf("%s: shard %q of %q must be a file name in the index's directory", path, sh, k)
		}
		byName, ok := opened[sh]
		if !ok {
			p := filepath.Join(dir, sh)
			var ts []*tensor.Tensor
			if typ == "torch" {
				ts, err = s.openPth(p)
			} else {
				ts, err = s.openSafetensors(p)
			}
			if err != nil {
				return fmt.Errorf("%s: shard of %q: %w", path, k, err)
			}
			byName = map[string]*tensor.Tensor{}
			for _, t := range ts {
				byName[t.Name] = t
			}
			opened[sh] = byName
		}
		t, ok := byName[k]
		if !ok {
			return fmt.Errorf("%s: tensor %q is not in shard %s", path, k, sh)
		}
		s.tensors = append(s.tensors, t)
	}
	return nil
}

// weightMap decodes an index's weight_map in file order.
func weightMap(raw []byte) (keys, shards []string, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, nil, err
	}
	wm, ok := top["weight_map"]
	if !ok {
		return nil, nil, fmt.Errorf("no weight_map")
	}
	dec := json.NewDecoder(bytes.NewReader(wm))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, fmt.Errorf("weight_map is not an object")
	}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k := kt.(string)
		var v string
		if err := dec.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("weight_map[%q]: %w", k, err)
		}
		if seen[k] {
			return nil, nil, fmt.Errorf("weight_map: %q appears twice", k)
		}
		seen[k] = true
		keys = append(keys, k)
		shards = append(shards, v)
	}
	if len(keys) == 0 {
		return nil, nil, fmt.Errorf("weight_map is empty")
	}
	return keys, shards, nil
}

// outCode is converter.py's dtype rule (spec §6.3, Q13): int8 and bool are
// written raw as I8 (16), uint8 raw as code 31, everything else as F32.
// With native, float16, int16 and int32 keep their type (codes 1, 17, 18)
// instead of being widened to float32.
func outCode(d tensor.DType, native bool) mllmfmt.DType {
	if native {
		switch d {
		case tensor.F16:
			return mllmfmt.F16
		case tensor.I16:
			return mllmfmt.I16
		case tensor.I32:
			return mllmfmt.I32
		}
	}
	switch d {
	case tensor.I8, tensor.Bool:
		return mllmfmt.I8
	case tensor.U8:
		return mllmfmt.KleidiAIQ4_0
	}
	return mllmfmt.F32
}

// options of a model conversion.
type convertOptions struct {
	sparse   bool
	native   bool          // keep f16/i16/i32 (not converter.py's behaviour)
	progress func(n int64) // bytes of source data consumed
}

// sparseName is converter.py's --model_type sparse rename.
func sparseName(name string) (string, bool) {
	if !strings.Contains(name, "down_proj.weight") {
		return name, false
	}
	return strings.ReplaceAll(name, "weight", "weight_T"), true
}

// qnnKeys mark a QNN export, which sparse mode cannot handle (spec Q16).
var qnnKeys = []string{".weight.scale", ".input_scale", ".output_scale", ".clip_input", ".clip_output", ".bias.scale"}

// convertModel writes src's tensors to out (an .mllm path), atomically,
// and returns the file's size and SHA-256 (hashed as written: the final
// index goes first, so the file is written front to back).
func convertModel(src *source, out string, opt convertOptions) (int64, string, error) {
	names := make([]string, len(src.tensors))
	for i, t := range src.tensors {
		names[i] = t.Name
		if opt.sparse {
			for _, q := range qnnKeys {
				if strings.HasSuffix(t.Name, q) {
					return 0, "", fmt.Errorf("--model_type sparse cannot convert a QNN export (tensor %q): its down_proj.weight.scale is a 0-dim tensor that converter.py would try to transpose (spec Q16)", t.Name)
				}
			}
			if n, ok := sparseName(t.Name); ok {
				if len(t.Shape) < 2 {
					return 0, "", fmt.Errorf("--model_type sparse: tensor %q has shape %v, cannot transpose its last two dimensions", t.Name, t.Shape)
				}
				names[i] = n
			}
		}
	}
	f, err := atomicfile.Create(out)
	if err != nil {
		return 0, "", err
	}
	defer f.Abort()
	// Hashed as written, so never read back here; the next step
	// (quantize) reads it with O_DIRECT ahead of its workers
	// (mmapfile.Stream), so the page cache would only cost a copy per
	// byte (measured: 15 s of kernel CPU for a 7.3 GB output).
	f.WriteDirect()
	codes := make([]mllmfmt.DType, len(src.tensors))
	sizes := make([]uint64, len(src.tensors))
	for i, t := range src.tensors {
		codes[i] = outCode(t.DType, opt.native)
		sizes[i] = uint64(t.NumBytes())
		if codes[i] == mllmfmt.F32 && t.DType != tensor.F32 {
			sizes[i] = 4 * uint64(t.NumElements())
		}
	}
	hw := manifest.NewHashWriter(f)
	w, err := mllmfmt.NewWriterSized(hw, names, codes, sizes)
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", out, err)
	}
	transposed := func(i int) bool {
		_, t := sparseName(src.tensors[i].Name)
		return t && opt.sparse
	}
	// One stream over every tensor's bytes (but the transposed ones,
	// which writeTransposed reads whole), read ahead across tensors.
	st := mmapfile.NewStream(src.maps, len(src.tensors), func(i int) ([]byte, error) {
		if transposed(i) {
			return nil, nil
		}
		t := src.tensors[i]
		raw, err := t.Data()
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if int64(len(raw)) != t.NumBytes() {
			return nil, fmt.Errorf("tensor %q: %d bytes of data for %v %v, want %d", t.Name, len(raw), t.DType, t.Shape, t.NumBytes())
		}
		return raw, nil
	}, chunkBytes)
	defer st.Close()
	buf := make([]byte, 8*chunkBytes) // a chunk of any dtype as float32
	for i, t := range src.tensors {
		err := w.WriteTensorFrom(names[i], codes[i], func(wr io.Writer) (int64, error) {
			if transposed(i) {
				return writeTransposed(wr, t, codes[i], opt.progress)
			}
			return writeTensor(wr, t, codes[i], st, buf, opt.progress)
		})
		if err != nil {
			return 0, "", fmt.Errorf("%s: %w", out, err)
		}
	}
	if err := w.Close(); err != nil {
		return 0, "", fmt.Errorf("%s: %w", out, err)
	}
	size, sum, ok := hw.Sum()
	if !ok {
		return 0, "", fmt.Errorf("%s: incomplete write", out)
	}
	if err := f.Commit(); err != nil {
		return 0, "", err
	}
	return size, sum, nil
}

// chunkBytes is the size of the chunks of source data converted at a time.
const chunkBytes = 2 << 20

// writeTensor writes one tensor's bytes as code, taking its chunks from
// st: a raw copy (I8, bool, U8, F32; F16/I16/I32 when native), or a
// conversion to float32.
func writeTensor(w io.Writer, t *tensor.Tensor, code mllmfmt.DType, st *mmapfile.Stream, buf []byte, progress func(int64)) (int64, error) {
	es := t.DType.Size()
	convert := code == mllmfmt.F32 && t.DType != tensor.F32
	f32 := make([]float32, len(buf)/4)
	var n, read int64
	for read < t.NumBytes() {
		c, release, err := st.Next()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return n, err
		}
		read += int64(len(c))
		out := c
		if convert {
			m := len(c) / es
			if t.DType == tensor.BF16 {
				// bf16 is the top half of a float32: no arithmetic needed.
				for i := 0; i < m; i++ {
					buf[4*i], buf[4*i+1], buf[4*i+2], buf[4*i+3] = 0, 0, c[2*i], c[2*i+1]
				}
			} else {
				if err := tensor.ToFloat32(t.DType, c, f32[:m]); err != nil {
					release()
					return n, err
				}
				for i, v := range f32[:m] {
					putF32(buf[4*i:], v)
				}
			}
			out = buf[:4*m]
		}
		k, err := w.Write(out)
		release()
		n += int64(k)
		if err != nil {
			return n, err
		}
		if progress != nil {
			progress(int64(len(c)))
		}
	}
	return n, nil
}

func putF32(b []byte, v float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(v)) }

// writeTransposed writes transpose(-2,-1).contiguous() of the converted
// tensor (sparse mode; materializes one tensor).
func writeTransposed(w io.Writer, t *tensor.Tensor, code mllmfmt.DType, progress func(int64)) (int64, error) {
	raw, err := t.Data()
	if err != nil {
		return 0, err
	}
	if int64(len(raw)) != t.NumBytes() {
		return 0, fmt.Errorf("%d bytes of data for %v %v, want %d", len(raw), t.DType, t.Shape, t.NumBytes())
	}
	el, es := raw, t.DType.Size()
	if code == mllmfmt.F32 && t.DType != tensor.F32 {
		v, err := t.Float32()
		if err != nil {
			return 0, err
		}
		el, es = tensor.Float32Bytes(v), 4
	}
	nd := len(t.Shape)
	r, c := t.Shape[nd-2], t.Shape[nd-1]
	out := make([]byte, len(el))
	mat := r * c * es
	for b := 0; b*mat < len(el); b++ {
		src, dst := el[b*mat:(b+1)*mat], out[b*mat:(b+1)*mat]
		for i := 0; i < r; i++ {
			for j := 0; j < c; j++ {
				copy(dst[(j*r+i)*es:(j*r+i+1)*es], src[(i*c+j)*es:(i*c+j+1)*es])
			}
		}
	}
	k, err := w.Write(out)
	if progress != nil {
		progress(int64(len(raw)))
	}
	return int64(k), err
}
