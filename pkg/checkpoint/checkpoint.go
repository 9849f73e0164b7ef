// Package checkpoint opens model checkpoints — a Hugging Face model
// directory, a single safetensors / PyTorch file, or a sharded index — and
// presents their tensors lazily: opening reads only headers, and a tensor's
// bytes are read (from a memory map) when its Data is called.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// Checkpoint is an opened set of tensors.
type Checkpoint struct {
	// Path is what was opened (a directory or a file).
	Path string
	// Dir is the directory holding config.json and the tokenizer.
	Dir string
	// Tensors in source order: file order for a single file, the index's
	// weight_map order for a sharded checkpoint.
	Tensors []*tensor.Tensor
	byName  map[string]*tensor.Tensor
	closers []io.Closer
}

// Reader opens one file of a given format.
type Reader struct {
	Name string
	// Match reports whether this reader handles the file at path.
	Match func(path string) bool
	// Open returns the file's tensors in file order and a closer that
	// releases them.
	Open func(path string) ([]*tensor.Tensor, io.Closer, error)
}

// Readers is the table of single-file formats, tried in order.
var Readers = []Reader{
	{Name: "safetensors", Match: hasSuffix(".safetensors"), Open: func(p string) ([]*tensor.Tensor, io.Closer, error) {
		ts, m, err := OpenSafetensors(p)
		if err != nil {
			return nil, nil, err
		}
		return ts, m, nil
	}},
	pthReader,
}

func hasSuffix(s ...string) func(string) bool {
	return func(p string) bool {
		for _, x := range s {
			if strings.HasSuffix(p, x) {
				return true
			}
		}
		return false
	}
}

// dirCandidates are the weight files looked for in a model directory, in
// order of preference.
var dirCandidates = []string{
	"model.safetensors.index.json",
	"model.safetensors",
	"pytorch_model.bin.index.json",
	"pytorch_model.bin",
	"consolidated.00.pth",
	"consolidated.pth",
}

// Open opens a model directory or a single weight file / index.
func Open(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open checkpoint: %w", err)
	}
	c := &Checkpoint{Path: path, byName: map[string]*tensor.Tensor{}}
	file := path
	if st.IsDir() {
		c.Dir = path
		file = ""
		for _, cand := range dirCandidates {
			p := filepath.Join(path, cand)
			if _, err := os.Stat(p); err == nil {
				file = p
				break
			}
		}
		if file == "" {
			return nil, fmt.Errorf("open checkpoint %s: no weights found (looked for %s)", path, strings.Join(dirCandidates, ", "))
		}
	} else {
		c.Dir = filepath.Dir(path)
	}
	if strings.HasSuffix(file, ".json") {
		err = c.openIndex(file)
	} else {
		err = c.openFile(file)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	if len(c.Tensors) == 0 {
		c.Close()
		return nil, fmt.Errorf("open checkpoint %s: no tensors", file)
	}
	return c, nil
}

func (c *Checkpoint) openFile(path string) error {
	ts, err := readFile(path)
	if err != nil {
		return err
	}
	for _, t := range ts.tensors {
		if err := c.add(t, path); err != nil {
			ts.closer.Close()
			return err
		}
	}
	c.closers = append(c.closers, ts.closer)
	return nil
}

type opened struct {
	tensors []*tensor.Tensor
	closer  io.Closer
}

func readFile(path string) (opened, error) {
	for _, r := range Readers {
		if r.Match(path) {
			ts, cl, err := r.Open(path)
			if err != nil {
				return opened{}, fmt.Errorf("read %s checkpoint: %w", r.Name, err)
			}
			return opened{ts, cl}, nil
		}
	}
	return opened{}, fmt.Errorf("%s: unknown checkpoint format (known: %s)", path, readerNames())
}

func readerNames() string {
	var n []string
	for _, r := range Readers {
		n = append(n, r.Name)
	}
	return strings.Join(n, ", ")
}

func (c *Checkpoint) add(t *tensor.Tensor, src string) error {
	if _, dup := c.byName[t.Name]; dup {
		return fmt.Errorf("%s: tensor %q appears twice", src, t.Name)
	}
	c.byName[t.Name] = t
	c.Tensors = append(c.Tensors, t)
	return nil
}

// openIndex reads a sharded checkpoint's index (*.index.json with a
// weight_map) and opens each shard once, listing tensors in weight_map order.
func (c *Checkpoint) openIndex(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var idx struct {
		WeightMap orderedMap `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(idx.WeightMap.keys) == 0 {
		return fmt.Errorf("%s: weight_map is missing or empty", path)
	}
	shards := map[string]map[string]*tensor.Tensor{}
	dir := filepath.Dir(path)
	for _, name := range idx.WeightMap.keys {
		shard := idx.WeightMap.vals[name]
		if strings.Contains(shard, "/") || strings.Contains(shard, `\`) || shard == ".." {
			return fmt.Errorf("%s: shard name %q for %q must be a file name in the same directory", path, shard, name)
		}
		ts, ok := shards[shard]
		if !ok {
			o, err := readFile(filepath.Join(dir, shard))
			if err != nil {
				return fmt.Errorf("%s: shard of %q: %w", path, name, err)
			}
			c.closers = append(c.closers, o.closer)
			ts = map[string]*tensor.Tensor{}
			for _, t := range o.tensors {
				ts[t.Name] = t
			}
			shards[shard] = ts
		}
		t, ok := ts[name]
		if !ok {
			return fmt.Errorf("%s: tensor %q is not in shard %s", path, name, shard)
		}
		if err := c.add(t, path); err != nil {
			return err
		}
	}
	return nil
}

// Tensor looks a tensor up by name.
func (c *Checkpoint) Tensor(name string) (*tensor.Tensor, bool) {
	t, ok := c.byName[name]
	return t, ok
}

// Config reads config.json from the checkpoint's directory.
func (c *Checkpoint) Config() ([]byte, error) {
	p := filepath.Join(c.Dir, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	return b, nil
}

// Close releases all mapped files.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, cl := range c.closers {
		if cl != nil {
			errs = append(errs, cl.Close())
		}
	}
	c.closers = nil
	return errors.Join(errs...)
}

// orderedMap decodes a JSON object of strings keeping key order.
type orderedMap struct {
	keys []string
	vals map[string]string
}

func (m *orderedMap) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("weight_map is not an object")
	}
	m.vals = map[string]string{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		k := kt.(string)
		var v string
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("weight_map[%q]: %w", k, err)
		}
		if _, dup := m.vals[k]; dup {
			return fmt.Errorf("weight_map: key %q appears twice", k)
		}
		m.keys = append(m.keys, k)
		m.vals[k] = v
	}
	_, err = dec.Token()
	return err
}
