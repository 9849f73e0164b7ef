package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"unsafe"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
	"github.com/urfave/cli/v3"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "list and validate the tensors of .mllm, vocab .mllm, .pth/.bin and .safetensors files",
		ArgsUsage: "FILE...",
		Description: "Prints each tensor's name, dtype, shape (or byte length for .mllm) and data offset, after\n" +
			"validating the file: index and data inside the file, no overlapping tensors, sizes consistent\n" +
			"with dtype and shape, every storage present (.pth; views inside their storage), known dtypes.\n" +
			"Exits non-zero if any file is invalid.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dump-json", Usage: "print one JSON document per file instead of a table (.pth: the whole object tree)"},
			&cli.BoolFlag{Name: "with-data", Usage: "with --dump-json: include every tensor's C-order little-endian bytes (base64)"},
		},
		Action: func(_ context.Context, cmd *cli.Command) error {
			files := cmd.Args().Slice()
			if len(files) == 0 {
				return fmt.Errorf("inspect: no FILE given")
			}
			return inspectFiles(os.Stdout, files, inspectOptions{json: cmd.Bool("dump-json"), data: cmd.Bool("with-data")})
		},
	}
}

type inspectOptions struct{ json, data bool }

// entry is one listed tensor.
type entry struct {
	Name   string `json:"name"`
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape,omitempty"`
	Bytes  int64  `json:"bytes"`
	Offset int64  `json:"offset"` // -1: not stored contiguously in the file
	Data   string `json:"data,omitempty"`
}

type report struct {
	File    string  `json:"file"`
	Format  string  `json:"format"`
	Tensors []entry `json:"tensors"`
	Root    any     `json:"root,omitempty"`
	Vocab   int     `json:"vocab_count,omitempty"`
}

func inspectFiles(w io.Writer, files []string, opt inspectOptions) error {
	var errs []error
	for _, f := range files {
		r, err := inspectFile(f, opt)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: INVALID: %w", f, err))
			continue
		}
		if opt.json {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s\n", b)
			continue
		}
		fmt.Fprintf(w, "%s: %s, %d tensors, valid\n", f, r.Format, len(r.Tensors))
		if r.Format == "vocab" {
			fmt.Fprintf(w, "  %d tokens\n", r.Vocab)
		}
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		for _, e := range r.Tensors {
			shape := "-"
			if e.Shape != nil {
				shape = fmt.Sprint(e.Shape)
			}
			off := "view"
			if e.Offset >= 0 {
				off = strconv.FormatInt(e.Offset, 10)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d B\t@%s\n", e.Name, e.DType, shape, e.Bytes, off)
		}
		tw.Flush()
	}
	return errors.Join(errs...)
}

func inspectFile(path string, opt inspectOptions) (*report, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	head := make([]byte, 16)
	n, _ := io.ReadFull(fh, head)
	fh.Close()
	head = head[:n]
	r := &report{File: path}
	switch {
	case n >= 4 && binary.LittleEndian.Uint32(head) == mllmfmt.Magic:
		r.Format = "mllm"
		return r, inspectMllm(r, path, opt)
	case n >= 4 && binary.LittleEndian.Uint32(head) == mllmfmt.VocabMagic:
		r.Format = "vocab"
		es, err := mllmfmt.ReadVocab(path)
		if err != nil {
			return nil, err
		}
		r.Vocab = len(es)
		return r, mllmfmt.ValidateVocab(es)
	case n >= 4 && (bytes.HasPrefix(head, []byte("PK\x03\x04")) || head[0] == 0x80):
		return r, inspectPth(r, path, opt)
	case n >= 9 && head[8] == '{':
		r.Format = "safetensors"
		return r, inspectSafetensors(r, path, opt)
	}
	return nil, fmt.Errorf("unknown file format (not .mllm, vocab .mllm, PyTorch or safetensors)")
}

func inspectMllm(r *report, path string, opt inspectOptions) error {
	f, err := mllmfmt.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Validate(); err != nil {
		return err
	}
	for _, e := range f.Entries {
		en := entry{Name: e.Name, DType: e.DType.String(), Bytes: int64(e.Size), Offset: int64(e.Offset)}
		if opt.data {
			en.Data = base64.StdEncoding.EncodeToString(f.Data(e))
		}
		r.Tensors = append(r.Tensors, en)
	}
	return nil
}

// mapOffset is b's offset inside m when b aliases m.
func mapOffset(m, b []byte) int64 {
	if len(m) == 0 || len(b) == 0 {
		return -1
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < base || p+uintptr(len(b)) > base+uintptr(len(m)) {
		return -1
	}
	return int64(p - base)
}

func tensorEntry(t *tensor.Tensor, m []byte, withData bool) (entry, error) {
	b, err := t.Data()
	if err != nil {
		return entry{}, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if int64(len(b)) != t.NumBytes() {
		return entry{}, fmt.Errorf("tensor %q: %d bytes for %v %v, want %d", t.Name, len(b), t.DType, t.Shape, t.NumBytes())
	}
	shape := t.Shape
	if shape == nil {
		shape = []int{}
	}
	e := entry{Name: t.Name, DType: t.DType.String(), Shape: shape, Bytes: int64(len(b)), Offset: mapOffset(m, b)}
	if withData {
		e.Data = base64.StdEncoding.EncodeToString(b)
	}
	return e, nil
}

func inspectPth(r *report, path string, opt inspectOptions) error {
	f, err := pth.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r.Format = "pth-" + f.Format
	for _, t := range pth.Tensors(f.Root) {
		e, err := tensorEntry(t, f.Mapping(), opt.data)
		if err != nil {
			return err
		}
		r.Tensors = append(r.Tensors, e)
	}
	if opt.json {
		r.Root, err = tree(f.Root, f.Mapping(), opt.data)
	}
	return err
}

func inspectSafetensors(r *report, path string, opt inspectOptions) error {
	ts, m, err := checkpoint.OpenSafetensors(path)
	if err != nil {
		return err
	}
	defer m.Close()
	for _, t := range ts {
		e, err := tensorEntry(t, m.Bytes(), opt.data)
		if err != nil {
			return err
		}
		r.Tensors = append(r.Tensors, e)
	}
	return nil
}

// tree renders a pth object as JSON-friendly values.
func tree(v any, m []byte, withData bool) (any, error) {
	type node = map[string]any
	items := func(xs []any) ([]any, error) {
		out := make([]any, len(xs))
		for i, x := range xs {
			c, err := tree(x, m, withData)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	switch x := v.(type) {
	case nil:
		return node{"type": "none"}, nil
	case bool:
		return node{"type": "bool", "value": x}, nil
	case int64:
		return node{"type": "int", "value": x}, nil
	case float64:
		return node{"type": "float", "value": strconv.FormatFloat(x, 'g', -1, 64)}, nil
	case string:
		return node{"type": "str", "value": x}, nil
	case []byte:
		return node{"type": "bytes", "data": base64.StdEncoding.EncodeToString(x)}, nil
	case []any:
		it, err := items(x)
		return node{"type": "list", "items": it}, err
	case pth.Tuple:
		it, err := items(x)
		return node{"type": "tuple", "items": it}, err
	case *pth.Dict:
		ks, err := items(x.Keys)
		if err != nil {
			return nil, err
		}
		vs, err := items(x.Values)
		typ := "dict"
		if x.Ordered {
			typ = "ordereddict"
		}
		return node{"type": typ, "keys": ks, "values": vs}, err
	case *tensor.Tensor:
		e, err := tensorEntry(x, m, withData)
		return node{"type": "tensor", "dtype": e.DType, "shape": e.Shape, "offset": e.Offset, "data": e.Data}, err
	}
	return nil, fmt.Errorf("unexpected value %T", v)
}
