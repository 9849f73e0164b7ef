package export

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/manifest"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// Format is an output file format.
type Format string

// Output formats.
const (
	PTH  Format = "pth"  // torch.save of an ordered dict of tensors
	MLLM Format = "mllm" // mllm v1 parameter file, as converter.py makes it from the .pth
)

// FormatFor picks the output format: explicit when format is "pth" or
// "mllm", otherwise from the path's extension (.mllm → MLLM, anything else
// → PTH, as mllm's scripts always write a torch file).
func FormatFor(path, format string) (Format, error) {
	switch strings.ToLower(format) {
	case "pth":
		return PTH, nil
	case "mllm":
		return MLLM, nil
	case "", "auto":
		if strings.EqualFold(filepath.Ext(path), ".mllm") {
			return MLLM, nil
		}
		return PTH, nil
	}
	return "", fmt.Errorf("--format %q: want pth, mllm or auto", format)
}

// CheckOutputPath fails early (before a model is loaded) for an output
// path that cannot be written: empty, an existing directory, or under a
// parent that exists but is not a directory.
func CheckOutputPath(path string) error {
	if path == "" {
		return fmt.Errorf("output path is empty")
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("output %s is a directory", path)
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("output %s: %s is not a directory", path, dir)
			}
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("output %s: %w", path, err)
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
	}
}

// Write writes s to path in format f, atomically. The tensors are
// computed in order by a goroutine running ahead of the writer (see
// prefetch), so computing the next tensors overlaps writing the current one.
func Write(path string, f Format, s State) error {
	_, err := WriteDigest(path, f, s)
	return err
}

// WriteDigest is Write that also returns the file's size and SHA-256,
// computed from the bytes as they were written.
func WriteDigest(path string, f Format, s State) (Digest, error) {
	s, stop := prefetch(s, prefetchBudget)
	defer stop()
	switch f {
	case PTH:
		return writePTH(path, s)
	case MLLM:
		return writeMLLM(path, s)
	}
	return Digest{}, fmt.Errorf("unknown output format %q", f)
}

// WritePTH writes s as torch.save(dict) would, keys in order (a plain
// dict, like mllm's `new_model = {}`). Each tensor is a contiguous storage;
// the transposed int8 weights therefore have shape [in,out] and standard
// strides (torch saved a strided view of the [out,in] storage; the values
// are the same).
func WritePTH(path string, s State) error {
	_, err := writePTH(path, s)
	return err
}

// writePTH is pth.Save of s's dict, hashing the bytes as they are written.
func writePTH(path string, s State) (Digest, error) {
	d := &pth.Dict{}
	for _, t := range s {
		d.Keys = append(d.Keys, t.Name)
		d.Values = append(d.Values, t)
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return Digest{}, err
	}
	defer f.Abort()
	// Hashed here as written, so never read back: no need to keep it in
	// the page cache, and writing around it saves a quarter of the CPU.
	f.WriteDirect()
	w := manifest.NewHashWriter(f)
	if err := pth.Write(w, pth.ArchiveName(path), d); err != nil {
		return Digest{}, fmt.Errorf("write %s: %w", path, err)
	}
	return digestOf(w), f.Commit()
}

// MLLMCode is converter.py's dtype mapping (spec §6.3): int8 and bool →
// 16 (raw bytes), uint8 → 31 (raw), every other dtype → float32 values,
// code 0.
func MLLMCode(d tensor.DType) mllmfmt.DType {
	switch d {
	case tensor.I8, tensor.Bool:
		return mllmfmt.I8
	case tensor.U8:
		return mllmfmt.KleidiAIQ4_0
	}
	return mllmfmt.F32
}

// WriteMLLM writes s as the .mllm converter.py writes from the .pth that
// WritePTH makes: same key order, dtypes by MLLMCode, elements in C order.
// Tensors are produced and written one at a time.
func WriteMLLM(path string, s State) error {
	_, err := writeMLLM(path, s)
	return err
}

// writeMLLM is WriteMLLM hashing the bytes as they are written (EncodeMLLM
// writes the file front to back).
func writeMLLM(path string, s State) (Digest, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return Digest{}, err
	}
	defer f.Abort()
	// Hashed here as written, so never read back: no need to keep it in
	// the page cache, and writing around it saves a quarter of the CPU.
	f.WriteDirect()
	w := manifest.NewHashWriter(f)
	if err := EncodeMLLM(w, s); err != nil {
		return Digest{}, fmt.Errorf("write %s: %w", path, err)
	}
	return digestOf(w), f.Commit()
}

// EncodeMLLM streams s into w in the .mllm v1 layout, front to back: the
// final index (from the tensors' shapes) comes first.
func EncodeMLLM(w io.Writer, s State) error {
	codes, sizes := mllmLayout(s)
	mw, err := mllmfmt.NewWriterSized(w, s.Names(), codes, sizes)
	if err != nil {
		return err
	}
	for _, t := range s {
		code := MLLMCode(t.DType)
		raw, err := t.Data()
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if int64(len(raw)) != t.NumBytes() {
			return fmt.Errorf("tensor %q: %d bytes for shape %v %v", t.Name, len(raw), t.Shape, t.DType)
		}
		if code == mllmfmt.F32 && t.DType != tensor.F32 {
			v := make([]float32, t.NumElements())
			if err := tensor.ToFloat32(t.DType, raw, v); err != nil {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			raw = tensor.Float32Bytes(v)
		}
		if err := mw.WriteTensor(t.Name, code, raw); err != nil {
			return err
		}
	}
	return mw.Close()
}
