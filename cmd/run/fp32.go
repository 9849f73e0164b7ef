package main

import (
	"context"
	"fmt"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/urfave/cli/v3"
)

// fp32Mode is the default: the float32 forward of pkg/model over the
// checkpoint's weights upcast to float32.
func fp32Mode() mode {
	return mode{name: "fp32", open: openFP32}
}

type fp32Engine struct {
	ck    *checkpoint.Checkpoint
	m     *model.Model
	cache *model.KVCache
}

func openFP32(_ context.Context, cmd *cli.Command) (engine, error) {
	ck, err := checkpoint.Open(cmd.String("model"))
	if err != nil {
		return nil, err
	}
	w, err := model.Load(ck)
	if err != nil {
		ck.Close()
		return nil, err
	}
	return &fp32Engine{ck: ck, m: model.New(w)}, nil
}

func (e *fp32Engine) Vocab() int { return e.m.W.Config.VocabSize }

func (e *fp32Engine) Window(ids []int) ([]float32, error) { return e.m.Forward(ids, nil) }

func (e *fp32Engine) Start(ids []int, capacity int) ([]float32, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("empty prompt")
	}
	for i, id := range ids {
		if id < 0 || id >= e.Vocab() {
			return nil, fmt.Errorf("prompt token %d at index %d is outside the vocabulary [0,%d)", id, i, e.Vocab())
		}
	}
	e.cache = model.NewKVCache(e.m.W.Config, capacity)
	x := e.m.Embed(ids)
	for i := range e.m.W.Layers {
		if err := e.m.LayerForward(i, x, len(ids), e.cache); err != nil {
			return nil, err
		}
	}
	h := e.m.W.Config.HiddenSize
	return e.m.Logits(x[(len(ids)-1)*h:], 1), nil
}

func (e *fp32Engine) Next(id int) ([]float32, error) {
	if e.cache == nil {
		return nil, fmt.Errorf("Next before Start")
	}
	return e.m.Forward([]int{id}, e.cache)
}

func (e *fp32Engine) EOS() []int { return e.m.W.Config.EOSTokenIDs }

func (e *fp32Engine) Describe() string {
	c := e.m.W.Config
	return fmt.Sprintf("%s (%s: %d layers, hidden %d, %d/%d heads, vocab %d), float32 forward",
		e.ck.Dir, c.Arch, c.NumLayers, c.HiddenSize, c.NumHeads, c.NumKVHeads, c.VocabSize)
}

func (e *fp32Engine) Close() error { return e.ck.Close() }
