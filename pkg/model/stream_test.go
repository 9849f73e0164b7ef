package model

import (
	"reflect"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
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
