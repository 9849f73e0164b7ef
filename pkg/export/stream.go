package export

import (
	"fmt"
	"io"
	"sync"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/config"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/rotate"
)

// OpenModel opens model_config.model_name for a streamed export: it reads
// config.json and the R file (when online_rotation is set) but no weights.
// The states of the returned Model (RotatedState, QNNState) read, fuse and
// rotate each part — the embedding, one decoder layer, the final norm,
// lm_head (untied: a copy of the embedding for a tied model) — when the
// writer first asks for one of its tensors, and drop the previous part, so
// peak memory is about the largest of embedding, lm_head and one layer in
// float32, whatever the number of layers. The bytes written are those of
// LoadModel's model. Written in order, every part is read once; another
// order stays correct but may read a part again.
func OpenModel(mc config.ModelConfig, log io.Writer) (*Model, error) {
	if err := checkModelConfig(mc); err != nil {
		return nil, err
	}
	logf(log, "opening %s (streamed: one layer in memory at a time)\n", mc.ModelName)
	ck, err := checkpoint.Open(mc.ModelName)
	if err != nil {
		return nil, fmt.Errorf("model_config.model_name: %w", err)
	}
	raw, err := ck.Config()
	if err == nil {
		var cfg *model.Config
		if cfg, err = model.ParseConfig(raw); err != nil {
			err = fmt.Errorf("%s: %w", ck.Dir, err)
		} else if err = model.CheckLayerCount(ck, cfg); err == nil {
			m := &Model{Config: cfg, ck: ck, st: &stream{ck: ck, cfg: cfg, log: log, cur: -1}}
			if !mc.OnlineRotation {
				return m, nil
			}
			if m.Rotation, err = rotate.Load(mc.RPath); err != nil {
				err = fmt.Errorf("model_config.R_path: %w", err)
			} else if m.st.rot, err = rotate.NewRotator(cfg, m.Rotation, rotate.Options{}); err != nil {
				err = fmt.Errorf("rotate with %s: %w", mc.RPath, err)
			} else {
				logf(log, "rotating with %s\n", mc.RPath)
				return m, nil
			}
		}
	}
	ck.Close()
	return nil, err
}

// stream produces a model's parts from its checkpoint on demand, keeping
// the most recently used decoder layer.
type stream struct {
	ck  *checkpoint.Checkpoint
	cfg *model.Config
	rot *rotate.Rotator // nil: no rotation
	log io.Writer

	mu    sync.Mutex
	cur   int // index of layer, -1 for none
	layer *model.Layer
	last  string // the part produced last
}

// switchTo notes that part is about to be produced. When it differs from
// the previous part, the previous layer is dropped, so that the stream
// holds one part (the writer may still hold the previous part's bytes
// until it has written them; see MemoryLimit for how the garbage is
// bounded).
func (s *stream) switchTo(part string) {
	if part == s.last {
		return
	}
	s.last = part
	s.cur, s.layer = -1, nil
	logf(s.log, "export: %s\n", part)
}

// embedding returns the (rotated) embedding.
func (s *stream) embedding() ([]float32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.switchTo("model.embed_tokens")
	e, err := model.LoadEmbedding(s.ck, s.cfg)
	if err != nil {
		return nil, err
	}
	if s.rot != nil {
		if err := s.rot.Embedding(e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// layerAt returns decoder layer i (fused and rotated).
func (s *stream) layerAt(i int) (*model.Layer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == i && s.layer != nil {
		return s.layer, nil
	}
	s.switchTo(fmt.Sprintf("layer %d/%d", i+1, s.cfg.NumLayers))
	l, err := model.LoadLayer(s.ck, s.cfg, i)
	if err != nil {
		return nil, err
	}
	if s.rot != nil {
		if err := s.rot.Layer(i, l); err != nil {
			return nil, err
		}
	}
	s.cur, s.layer = i, l
	return l, nil
}

// norm returns model.norm.weight: all ones once fused into lm_head.
func (s *stream) norm() ([]float32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.switchTo("model.norm")
	g, err := model.LoadNorm(s.ck, s.cfg)
	if err != nil {
		return nil, err
	}
	if s.rot != nil {
		// What Rotator.Head leaves in the norm it fuses.
		for i := range g {
			g[i] = 1
		}
	}
	return g, nil
}

// head returns lm_head's weight (untied; fused with the final norm and
// rotated).
func (s *stream) head() ([]float32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.switchTo("lm_head")
	lm, err := model.LoadHead(s.ck, s.cfg)
	if err != nil {
		return nil, err
	}
	if s.rot != nil {
		g, err := model.LoadNorm(s.ck, s.cfg)
		if err != nil {
			return nil, err
		}
		if err := s.rot.Head(&lm, g); err != nil {
			return nil, err
		}
	}
	return lm.W, nil
}

// entries lists the state dict (spec §4.1 order) with values produced by
// the stream.
func (s *stream) entries() []entry {
	c := s.cfg
	skel := model.Skeleton(c)
	es := []entry{{"model.embed_tokens.weight", []int{c.VocabSize, c.HiddenSize}, s.embedding}}
	for i := range skel.Layers {
		for j, e := range model.LayerStateDict(c, i, &skel.Layers[i]) {
			es = append(es, entry{e.Name, e.Shape, func() ([]float32, error) {
				l, err := s.layerAt(i)
				if err != nil {
					return nil, err
				}
				return model.LayerStateDict(c, i, l)[j].Data, nil
			}})
		}
	}
	return append(es,
		entry{"model.norm.weight", []int{c.HiddenSize}, s.norm},
		entry{"lm_head.weight", []int{c.VocabSize, c.HiddenSize}, s.head})
}

// MemoryLimit is a soft limit for the Go runtime (debug.SetMemoryLimit)
// under which a streamed export of m runs without holding more garbage
// than needed: the larger of the embedding and lm_head in float32, two
// decoder layers in float32 (the one being written and the one being
// computed), the prefetch budget, and an eighth more for the rotation's
// scratch and fragmentation. It is 0 for a loaded model (no limit needed
// beyond the model itself).
func (m *Model) MemoryLimit() int64 {
	if m.st == nil {
		return 0
	}
	c := m.Config
	h, q, kv, in := int64(c.HiddenSize), int64(c.QDim()), int64(c.KVDim()), int64(c.IntermediateSize)
	layer := 4 * (2*q*h + 2*kv*h + 3*in*h + 2*h + q + 2*kv)
	big := 4 * int64(c.VocabSize) * h
	n := max(big, layer) + 2*layer + prefetchBudget
	return n + n/8 + 64<<20
}
