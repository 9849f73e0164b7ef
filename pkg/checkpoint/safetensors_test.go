package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildST writes a safetensors image from a header map and a data area.
func buildST(t *testing.T, header map[string]any, data []byte) []byte {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 8, 8+len(h)+len(data))
	binary.LittleEndian.PutUint64(out, uint64(len(h)))
	out = append(out, h...)
	return append(out, data...)
}

func entry(dtype string, shape []int, begin, end int) map[string]any {
	return map[string]any{"dtype": dtype, "shape": shape, "data_offsets": []int{begin, end}}
}

func TestParseSafetensorsOrderAndValues(t *testing.T) {
	img := buildST(t, map[string]any{
		"__metadata__": map[string]string{"format": "pt"},
		"z":            entry("F32", []int{1}, 0, 4),
		"a":            entry("BF16", []int{2}, 4, 8),
	}, []byte{0, 0, 0x80, 0x3f, 0x80, 0x3f, 0x00, 0xc0})
	ts, err := ParseSafetensors(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "z" || ts[1].Name != "a" {
		t.Fatalf("want file order [z a], got %v", []string{ts[0].Name, ts[1].Name})
	}
	v, err := ts[1].Float32()
	if err != nil || v[0] != 1 || v[1] != -2 {
		t.Fatalf("a = %v, %v", v, err)
	}
}

func TestParseSafetensorsErrors(t *testing.T) {
	data := make([]byte, 16)
	cases := []struct {
		name string
		img  []byte
		want string
	}{
		{"short", []byte{1, 2}, "shorter than"},
		{"header too long", func() []byte { b := make([]byte, 16); binary.LittleEndian.PutUint64(b, 1000); return b }(), "header length"},
		{"bad json", func() []byte {
			b := make([]byte, 8)
			binary.LittleEndian.PutUint64(b, 3)
			return append(b, "{x}"...)
		}(), "not valid JSON"},
		{"unknown dtype", buildST(t, map[string]any{"w": entry("F8_E4M3", []int{1}, 0, 1)}, data), "unknown dtype"},
		{"size mismatch", buildST(t, map[string]any{"w": entry("F32", []int{2}, 0, 4)}, data), "want 8"},
		{"out of file", buildST(t, map[string]any{"w": entry("F32", []int{8}, 0, 32)}, data), "outside the data area"},
		{"reversed offsets", buildST(t, map[string]any{"w": entry("F32", []int{1}, 8, 4)}, data), "outside the data area"},
		{"overlap", buildST(t, map[string]any{
			"a": entry("F32", []int{2}, 0, 8),
			"b": entry("F32", []int{2}, 4, 12),
		}, data), "overlap"},
		{"negative dim", buildST(t, map[string]any{"w": entry("F32", []int{-1}, 0, 4)}, data), "invalid shape"},
	}
	for _, tc := range cases {
		_, err := ParseSafetensors(tc.img)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want mention of %q", tc.name, err, tc.want)
		}
	}
}

func TestOpenShardedIndex(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	one := []byte{0, 0, 0x80, 0x3f}
	write("s1.safetensors", buildST(t, map[string]any{"b": entry("F32", []int{1}, 0, 4)}, one))
	write("s2.safetensors", buildST(t, map[string]any{"a": entry("F32", []int{1}, 0, 4)}, one))
	write("model.safetensors.index.json", []byte(`{"metadata":{},"weight_map":{"b":"s1.safetensors","a":"s2.safetensors"}}`))
	write("config.json", []byte(`{}`))
	ck, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if len(ck.Tensors) != 2 || ck.Tensors[0].Name != "b" || ck.Tensors[1].Name != "a" {
		t.Fatalf("want weight_map order [b a]")
	}
	if _, ok := ck.Tensor("a"); !ok {
		t.Fatal("lookup failed")
	}

	write("model.safetensors.index.json", []byte(`{"weight_map":{"c":"s1.safetensors"}}`))
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), `"c" is not in shard`) {
		t.Errorf("missing tensor in shard: %v", err)
	}
	write("model.safetensors.index.json", []byte(`{"weight_map":{"b":"../s1.safetensors"}}`))
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "same directory") {
		t.Errorf("path escape: %v", err)
	}
}

func TestOpenMissing(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no weights found") {
		t.Errorf("empty dir: %v", err)
	}
}
