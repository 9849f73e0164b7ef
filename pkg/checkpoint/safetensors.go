package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/qnnkit/qnnkit/pkg/mmapfile"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// maxSafetensorsHeader bounds the JSON header (the reference implementation
// uses 100 MB) so a corrupt length cannot make us allocate gigabytes.
const maxSafetensorsHeader = 100 << 20

type stEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// OpenSafetensors maps a .safetensors file and returns its tensors in file
// (data offset) order. The tensors alias the map; close it when done.
func OpenSafetensors(path string) ([]*tensor.Tensor, *mmapfile.File, error) {
	m, err := mmapfile.Open(path)
	if err != nil {
		return nil, nil, err
	}
	ts, err := ParseSafetensors(m.Bytes())
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, m, nil
}

// ParseSafetensors parses a safetensors image held in memory, validating
// the header: known dtypes, sizes that match shapes, offsets inside the
// data area, and no two tensors overlapping.
func ParseSafetensors(data []byte) ([]*tensor.Tensor, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length", len(data))
	}
	hlen := binary.LittleEndian.Uint64(data)
	if hlen > maxSafetensorsHeader || hlen > uint64(len(data)-8) {
		return nil, fmt.Errorf("offset 0: header length %d exceeds the file (%d bytes) or the 100 MB limit", hlen, len(data))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+hlen], &raw); err != nil {
		return nil, fmt.Errorf("offset 8: header is not valid JSON: %w", err)
	}
	body := data[8+hlen:]
	type located struct {
		t          *tensor.Tensor
		begin, end int64
	}
	var ls []located
	// Checked in name order, so an error names the same tensor every run.
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "__metadata__" {
			continue
		}
		msg := raw[name]
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("header entry %q: %w", name, err)
		}
		dt, err := tensor.ParseDType(e.DType)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		n := int64(1)
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && n > (1<<40)/int64(d)) {
				return nil, fmt.Errorf("tensor %q: invalid shape %v", name, e.Shape)
			}
			n *= int64(d)
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin < 0 || end < begin || end > int64(len(body)) {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d) outside the data area of %d bytes (file truncated?)", name, begin, end, len(body))
		}
		if want := n * int64(dt.Size()); end-begin != want {
			return nil, fmt.Errorf("tensor %q: %d bytes for shape %v of %v, want %d", name, end-begin, e.Shape, dt, want)
		}
		b := body[begin:end]
		t := &tensor.Tensor{Name: name, DType: dt, Shape: e.Shape,
			Data: func() ([]byte, error) { return b, nil }}
		ls = append(ls, located{t, begin, end})
	}
	// File order, not the map's random order.
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].begin != ls[j].begin {
			return ls[i].begin < ls[j].begin
		}
		return ls[i].t.Name < ls[j].t.Name
	})
	out := make([]*tensor.Tensor, len(ls))
	for i, l := range ls {
		if i > 0 && l.begin < ls[i-1].end {
			return nil, fmt.Errorf("tensors %q and %q overlap", ls[i-1].t.Name, l.t.Name)
		}
		out[i] = l.t
	}
	return out, nil
}
