package model

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// The part loaders give what LoadWeights gives, and the skeleton lists the
// same state-dict names and shapes.
func TestStreamPartsMatchLoadWeights(t *testing.T) {
	ck, err := checkpoint.Open("../../testdata/tinyqwen2")
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	w, err := Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	cfg := w.Config
	for i := range w.Layers {
		l, err := LoadLayer(ck, cfg, i)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*l, w.Layers[i]) {
			t.Errorf("LoadLayer(%d) differs from LoadWeights", i)
		}
	}
	head, err := LoadHead(ck, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Tied || !reflect.DeepEqual(head.W, w.Embed) || &head.W[0] == &w.Embed[0] {
		t.Errorf("LoadHead of a tied model must be an equal copy of the embedding")
	}
	ids := []int{5, 0, cfg.VocabSize - 1, 5}
	rows, err := LoadEmbeddingRows(ck, cfg, ids)
	if err != nil {
		t.Fatal(err)
	}
	if want := New(w).Embed(ids); !reflect.DeepEqual(rows, want) {
		t.Errorf("LoadEmbeddingRows differs from Embed")
	}
	if _, err := LoadEmbeddingRows(ck, cfg, []int{cfg.VocabSize}); err == nil || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Errorf("id out of range: err = %v", err)
	}
	if _, err := LoadLayer(ck, cfg, cfg.NumLayers); err == nil {
		t.Errorf("layer out of range: no error")
	}
	full, skel := w.StateDict(), Skeleton(cfg).StateDict()
	if len(full) != len(skel) {
		t.Fatalf("skeleton lists %d tensors, LoadWeights %d", len(skel), len(full))
	}
	for i := range full {
		if full[i].Name != skel[i].Name || !reflect.DeepEqual(full[i].Shape, skel[i].Shape) {
			t.Errorf("entry %d: skeleton %s %v, weights %s %v", i, skel[i].Name, skel[i].Shape, full[i].Name, full[i].Shape)
		}
	}
}

// Converting a tensor a few KB at a time (releasing each chunk's mapped
// pages) gives the values of converting it whole, and a value made
// non-finite in a later chunk is reported at its index in the tensor.
func TestLoadChunked(t *testing.T) {
	ck, err := checkpoint.Open("../../testdata/tinyqwen2")
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	const name = "model.embed_tokens.weight"
	tt, _ := ck.Tensor(name)
	want, err := tt.Float32()
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{4096, 10000, 1 << 30} {
		got, err := loadChunked(ck, tt, name, chunk)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("chunk %d: values differ (err %v)", chunk, err)
		}
	}
	raw, err := tt.Data()
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), raw...)
	es := tt.DType.Size()
	at := len(want) - 3
	for i := range es { // all bits set: a NaN in every float dtype
		bad[at*es+i] = 0xff
	}
	nan := &tensor.Tensor{Name: name, DType: tt.DType, Shape: tt.Shape, Data: func() ([]byte, error) { return bad, nil }}
	for _, chunk := range []int{4096, 1 << 30} {
		if _, err := loadChunked(ck, nan, name, chunk); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("non-finite value (NaN) at element %d", at)) {
			t.Errorf("chunk %d: err = %v", chunk, err)
		}
	}
	short := &tensor.Tensor{Name: name, DType: tt.DType, Shape: tt.Shape, Data: func() ([]byte, error) { return raw[:len(raw)-1], nil }}
	if _, err := loadChunked(ck, short, name, 4096); err == nil || !strings.Contains(err.Error(), "bytes of") {
		t.Errorf("short data: err = %v", err)
	}
}
