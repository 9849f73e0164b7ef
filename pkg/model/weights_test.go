package model

import (
	"testing"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
)

func TestLoadBundledModel(t *testing.T) {
	ck, err := checkpoint.Open("../../testdata/tinyqwen2")
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	w, err := Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	c := w.Config
	if c.HiddenSize != 256 || c.NumLayers != 4 || c.NumKVHeads != 2 || c.HeadDim != 64 || !w.Tied {
		t.Fatalf("unexpected config %+v tied=%v", c, w.Tied)
	}
	sd := w.StateDict()
	if got, want := len(sd), 1+4*12+2; got != want {
		t.Fatalf("state dict has %d entries, want %d", got, want)
	}
	if sd[1].Name != "model.layers.0.self_attn.q_proj.weight" || sd[len(sd)-1].Name != "lm_head.weight" {
		t.Fatalf("state dict order: %s ... %s", sd[1].Name, sd[len(sd)-1].Name)
	}
}
