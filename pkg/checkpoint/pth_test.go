package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

func TestPthShardedIndex(t *testing.T) {
	dir := t.TempDir()
	mk := func(v float32) *tensor.Tensor { return tensor.FromFloat32("", []int{1}, []float32{v}) }
	s1 := &pth.Dict{Keys: []any{"b", "_skip", "a"}, Values: []any{mk(1), mk(9), mk(2)}}
	s2 := &pth.Dict{Keys: []any{"model"}, Values: []any{&pth.Dict{Keys: []any{"c", "note"}, Values: []any{mk(3), "x"}}}}
	if err := pth.Save(filepath.Join(dir, "pytorch_model-00001-of-00002.bin"), s1); err != nil {
		t.Fatal(err)
	}
	if err := pth.Save(filepath.Join(dir, "pytorch_model-00002-of-00002.bin"), s2); err != nil {
		t.Fatal(err)
	}
	idx := `{"metadata":{},"weight_map":{"c":"pytorch_model-00002-of-00002.bin","a":"pytorch_model-00001-of-00001.bin","b":"pytorch_model-00001-of-00002.bin"}}`
	idx = strings.Replace(idx, "00001-of-00001", "00001-of-00002", 1)
	if err := os.WriteFile(filepath.Join(dir, "pytorch_model.bin.index.json"), []byte(idx), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []string
	for _, x := range c.Tensors {
		v, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, x.Name+"="+string(rune('0'+int(v[0]))))
	}
	if g := strings.Join(got, ","); g != "c=3,a=2,b=1" {
		t.Errorf("tensors %s, want weight_map order c=3,a=2,b=1", g)
	}
}

func TestPthErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pth")
	root := &pth.Dict{Keys: []any{"w"}, Values: []any{tensor.FromFloat32("", []int{64}, make([]float32, 64))}}
	if err := pth.Save(good, root); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated.pth", raw[:len(raw)/2], "truncated"},
		{"list.pth", nil, "not a dict"},
		{"junk.bin", []byte("not a checkpoint at all"), "not a PyTorch file"},
	}
	var lw strings.Builder
	if err := pth.Write(&lw, "l", []any{int64(1)}); err != nil {
		t.Fatal(err)
	}
	cases[1].data = []byte(lw.String())
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: err = %v, want it to name the file and say %q", c.name, err, c.want)
		}
	}
}
