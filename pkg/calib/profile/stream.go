package profile

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/qnnkit/qnnkit/pkg/calib"
	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/config"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/rotate"
)

// runStream is Run with the model streamed layer by layer (Options.Stream):
// every sample's residual stream (Σ tokens × hidden floats) is kept, and
// for each decoder layer in turn the layer is read from the memory-mapped
// checkpoint, fused and rotated, run over every sample (a fresh prefill of
// the sample, exactly model.LayerForward with no cache, as Forward does)
// with every Linear call recorded, and dropped; then the final norm and
// lm_head run over every sample. Only the embedding rows of the samples'
// tokens are read. Each Linear sees the same calls, in the same sample
// order, with the same values as in Run, so the statistics and the scale
// JSON are the same; peak memory is one layer's weights (or lm_head) plus
// the activations of one sample and the residual streams.
//
// There are no per-sample checkpoints: Resume, Shards > 1 and StopAfter are
// refused. The statistics file is written once, complete, at the end.
func runStream(o Options) (*Result, error) {
	if o.Resume || o.Shards > 1 || o.StopAfter > 0 {
		return nil, errors.New("profile: the streamed run (one layer at a time) has no per-sample checkpoints: it cannot be combined with --resume, --shard or a stop after N samples")
	}
	p := &o.Config.Profile
	if p.ModelType != config.ModelTypeQwen2 {
		return nil, fmt.Errorf("profile: model_type %q is not supported (only %q)", p.ModelType, config.ModelTypeQwen2)
	}
	statsPath := o.StatsPath
	if statsPath == "" {
		statsPath = StatsPathFor(p.OutputPath)
	}
	res := &Result{StatsPath: statsPath}

	ck, err := checkpoint.Open(p.ModelName)
	if err != nil {
		return nil, fmt.Errorf("profile: model_name: %w", err)
	}
	defer ck.Close()
	raw, err := ck.Config()
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	cfg, err := model.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("profile: %s: %w", ck.Dir, err)
	}
	if err := model.CheckLayerCount(ck, cfg); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	// The samples first: a bad tokenizer or dataset must fail the run
	// before save_rotation is (over)written.
	samples, err := tokenizedSamples(p)
	if err != nil {
		return nil, err
	}
	rot, rotDigest, saved, err := chooseRotation(&o, cfg, false, false)
	if err != nil {
		return nil, err
	}
	res.RotationSaved, res.Seed = saved, o.drawnSeed
	var rt *rotate.Rotator
	if rot != nil {
		if rt, err = rotate.NewRotator(cfg, rot, rotate.Options{}); err != nil {
			return nil, fmt.Errorf("profile: rotate: %w", err)
		}
	}

	if o.TokensOut != "" {
		if err := writeTokens(o.TokensOut, samples); err != nil {
			return nil, err
		}
	}
	lengths := make([]int, len(samples))
	for i, s := range samples {
		lengths[i] = len(s)
		res.Tokens += len(s)
	}
	res.Samples = len(samples)
	skel := model.Skeleton(cfg)
	layers, counts, err := calib.Counts(skel, lengths)
	if err != nil {
		return nil, err
	}
	st, err := calib.NewStats(layers, counts, o.AbsMax)
	if err != nil {
		return nil, err
	}

	// The residual stream of every sample: the (rotated) embedding rows.
	xs := make([][]float32, len(samples))
	for s, ids := range samples {
		v := make([]int, len(ids))
		for j, t := range ids {
			v[j] = int(t)
		}
		if xs[s], err = model.LoadEmbeddingRows(ck, cfg, v); err != nil {
			return nil, fmt.Errorf("profile: sample %d: %w", s, err)
		}
		if rt != nil {
			if err := rt.Embedding(xs[s]); err != nil {
				return nil, fmt.Errorf("profile: %w", err)
			}
		}
	}

	// A model whose only loaded layer is the current one.
	w := &model.Weights{Config: cfg, Layers: make([]model.Layer, cfg.NumLayers)}
	rec := calib.NewRecorder(w, st, p.NoBias)
	var hookErr error
	rec.Model.Hook = func(l *model.Linear, in, out []float32, rows int) {
		if hookErr == nil {
			hookErr = rec.Record(l, in, out, rows)
		}
	}
	var digest bytes.Buffer
	start := time.Now()
	progress := func(part string) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "profile: %s done (%d samples, %d tokens, %.0f s)\n", part, len(samples), res.Tokens, time.Since(start).Seconds())
		}
	}
	for i := 0; i < cfg.NumLayers; i++ {
		l, err := model.LoadLayer(ck, cfg, i)
		if err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		if rt != nil {
			if err := rt.Layer(i, l); err != nil {
				return nil, fmt.Errorf("profile: rotate: %w", err)
			}
		}
		w.Layers[i] = *l
		for s := range samples {
			if err := rec.Model.LayerForward(i, xs[s], lengths[s], nil); err != nil {
				return nil, fmt.Errorf("profile: sample %d: %w", s, err)
			}
			if hookErr != nil {
				return nil, fmt.Errorf("profile: sample %d: %w", s, hookErr)
			}
		}
		for _, x := range []*model.Linear{&l.Q, &l.K, &l.V, &l.O, &l.Gate, &l.Up, &l.Down} {
			digestLinear(&digest, x)
		}
		w.Layers[i] = model.Layer{}
		l = nil
		debug.FreeOSMemory()
		progress(fmt.Sprintf("layer %d/%d", i+1, cfg.NumLayers))
	}
	if w.Norm, err = model.LoadNorm(ck, cfg); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if w.LMHead, err = model.LoadHead(ck, cfg); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if rt != nil {
		if err := rt.Head(&w.LMHead, w.Norm); err != nil {
			return nil, fmt.Errorf("profile: rotate: %w", err)
		}
	}
	for s := range samples {
		if err := rec.Head(xs[s], lengths[s]); err != nil {
			return nil, fmt.Errorf("profile: sample %d: %w", s, err)
		}
	}
	digestLinear(&digest, &w.LMHead)
	progress("lm_head")
	res.Recorded = len(samples)

	meta := calib.Meta{Plan: planDigestOf(&o, rotDigest, digest.Bytes(), samples), Total: len(samples), To: len(samples), Next: len(samples)}
	if err := calib.SaveStats(statsPath, st, meta); err != nil {
		return nil, err
	}
	res.Meta = meta
	sf, err := st.Result()
	if err != nil {
		return nil, err
	}
	if err := WriteScaleFile(p.OutputPath, sf); err != nil {
		return nil, err
	}
	res.Scale = sf
	return res, nil
}
