// Package profile runs mllm's get_distribution.py procedure (spec §2) with
// bounded memory: load and rotate the model, select the calibration
// samples in mllm's order, tokenize them all first (so the value counts are
// known), run the FP32 forward pass of each sample while recording every
// Linear's input and bias-free output in a calib.Stats, checkpoint the
// statistics after every sample, and write the scale JSON.
//
// A run may be split into shards (sample ranges of one global plan) whose
// statistics files merge into exactly the single run's result, and a
// killed run resumes from its last checkpoint with an identical result.
package profile

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/calib"
	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/config"
	"github.com/qnnkit/qnnkit/pkg/dataset"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/rotate"
	"github.com/qnnkit/qnnkit/pkg/tokenizer"
)

// MaxChars is get_distribution's text[:6000] (code points).
const MaxChars = 6000

// Options configure a profiling run.
type Options struct {
	// Config is the validated mllm config; only profile_config is used.
	Config *config.Config
	// AbsMax takes ori/top_0_1 over absolute values (default: signed, Q1).
	AbsMax bool
	// StatsPath is the statistics checkpoint (and shard result) file;
	// "" means profile_config.output_path + ".stats".
	StatsPath string
	// Resume continues from StatsPath when it exists.
	Resume bool
	// Seed, when non-nil, seeds random_rotate; otherwise a random seed is
	// drawn (and a resumed run reloads the rotation from save_rotation).
	Seed *uint64
	// Shard and Shards select samples [Shard·S/Shards, (Shard+1)·S/Shards)
	// of the S planned samples. Shards ≤ 1 means the whole run.
	Shard, Shards int
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
	// Log receives one-line notes (nil: none).
	Log io.Writer
	// TokensOut, when set, receives the token ids of every planned sample
	// as JSON {"samples": [[ids], ...]} (for the interop reference).
	TokensOut string
	// StopAfter, when positive, stops after recording that many samples in
	// this invocation, leaving the checkpoint as a killed run would.
	StopAfter int
	// Stream runs the model one decoder layer at a time over all samples
	// (stream.go): peak memory is one layer's weights plus activations,
	// the result is the same, but there are no per-sample checkpoints
	// (Resume, Shards and StopAfter are refused).
	Stream bool

	drawnSeed *uint64 // the seed random_rotate used (set by chooseRotation)
}

// Result describes a finished (or stopped) run.
type Result struct {
	// Scale is the scale file; nil when this invocation recorded only part
	// of the plan (a shard, or StopAfter).
	Scale *calib.ScaleFile
	// Meta is the final state of the statistics file.
	Meta calib.Meta
	// StatsPath is the statistics file written.
	StatsPath string
	// RotationSaved is the R file written ("" if none).
	RotationSaved string
	// Seed is the seed random_rotate drew the rotation from: Options.Seed
	// or, without it, the random seed drawn (so the manifest can record
	// it). Nil when no rotation was drawn.
	Seed *uint64
	// Samples and Tokens count the whole plan.
	Samples, Tokens int
	// Recorded is the number of samples recorded by this invocation.
	Recorded int
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

// StatsPathFor returns the default statistics path for a scale JSON path.
func StatsPathFor(outputPath string) string { return outputPath + ".stats" }

// Run executes a profiling run. When the run (or the last missing shard
// range, for a whole-plan run) completes, the scale JSON is written to
// profile_config.output_path atomically.
func Run(o Options) (*Result, error) {
	if o.Config == nil {
		return nil, errors.New("profile: no config")
	}
	if o.Stream {
		return runStream(o)
	}
	p := &o.Config.Profile
	if p.ModelType != config.ModelTypeQwen2 {
		return nil, fmt.Errorf("profile: model_type %q is not supported (only %q)", p.ModelType, config.ModelTypeQwen2)
	}
	shards, shard := max(o.Shards, 1), o.Shard
	if shard < 0 || shard >= shards {
		return nil, fmt.Errorf("profile: shard %d/%d out of range", shard, shards)
	}
	statsPath := o.StatsPath
	if statsPath == "" {
		statsPath = StatsPathFor(p.OutputPath)
	}
	res := &Result{StatsPath: statsPath}

	// Resume state first: it decides whether a random rotation is reloaded.
	var prev *calib.Stats
	var prevMeta calib.Meta
	if o.Resume {
		s, m, err := calib.LoadStats(statsPath)
		switch {
		case err == nil:
			prev, prevMeta = s, m
		case errors.Is(err, os.ErrNotExist):
			o.logf("profile: no checkpoint at %s, starting from the first sample", statsPath)
		default:
			return nil, err
		}
	}

	ck, err := checkpoint.Open(p.ModelName)
	if err != nil {
		return nil, fmt.Errorf("profile: model_name: %w", err)
	}
	w, err := model.Load(ck)
	ck.Close()
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	// The samples first: a bad tokenizer or dataset must fail the run
	// before save_rotation is (over)written.
	samples, err := tokenizedSamples(p)
	if err != nil {
		return nil, err
	}
	rotDigest, saved, err := applyRotation(&o, w, prev != nil, shards > 1)
	if err != nil {
		return nil, err
	}
	res.RotationSaved, res.Seed = saved, o.drawnSeed

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
	plan := planDigest(&o, w, rotDigest, samples)

	layers, counts, err := calib.Counts(w, lengths)
	if err != nil {
		return nil, err
	}
	total := len(samples)
	from, to := shard*total/shards, (shard+1)*total/shards
	meta := calib.Meta{Plan: plan, Total: total, From: from, To: to, Next: from}
	st := prev
	if prev != nil {
		if prevMeta.Plan != plan {
			return nil, fmt.Errorf("profile: checkpoint %s belongs to a different run (model, rotation, options or samples changed); remove it or drop --resume", statsPath)
		}
		if prevMeta.From != from || prevMeta.To != to || prevMeta.Total != total {
			return nil, fmt.Errorf("profile: checkpoint %s covers samples %d..%d of %d, this run %d..%d of %d", statsPath, prevMeta.From, prevMeta.To, prevMeta.Total, from, to, total)
		}
		if prev.AbsMax() != o.AbsMax {
			return nil, fmt.Errorf("profile: checkpoint %s was made with absmax=%v", statsPath, prev.AbsMax())
		}
		meta = prevMeta
		o.logf("profile: resuming at sample %d of %d..%d", meta.Next, from, to)
	} else {
		if st, err = calib.NewStats(layers, counts, o.AbsMax); err != nil {
			return nil, err
		}
	}

	var bar *progressbar.ProgressBar
	if o.Progress != nil {
		var todo, done int64
		for i := from; i < to; i++ {
			todo += int64(lengths[i])
			if i < meta.Next {
				done += int64(lengths[i])
			}
		}
		bar = progressbar.NewOptions64(todo,
			progressbar.OptionSetWriter(o.Progress),
			progressbar.OptionSetDescription("profile"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("tok"),
			progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.Progress) }),
		)
		bar.Set64(done)
	}
	rec := calib.NewRecorder(w, st, p.NoBias)
	ids := make([]int, 0)
	for meta.Next < to {
		if o.StopAfter > 0 && res.Recorded >= o.StopAfter {
			res.Meta = meta
			return res, nil
		}
		s := samples[meta.Next]
		ids = ids[:0]
		for _, t := range s {
			ids = append(ids, int(t))
		}
		if err := rec.Sample(ids); err != nil {
			return nil, fmt.Errorf("profile: sample %d: %w", meta.Next, err)
		}
		meta.Next++
		res.Recorded++
		// Return the sample's activations before the next one, so the
		// heap (and RSS) peak is one sample's forward, whatever came before.
		runtime.GC()
		if err := calib.SaveStats(statsPath, st, meta); err != nil {
			return nil, err
		}
		if bar != nil {
			bar.Add(len(s))
		}
	}
	res.Meta = meta
	if from != 0 || to != total {
		o.logf("profile: shard %d/%d (samples %d..%d) recorded in %s; merge all shards with --merge", shard, shards, from, to, statsPath)
		return res, nil
	}
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

// WriteScaleFile writes sf to path atomically.
func WriteScaleFile(path string, sf *calib.ScaleFile) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := sf.WriteJSON(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

func writeTokens(path string, samples [][]int32) error {
	var b bytes.Buffer
	b.WriteString(`{"samples": [`)
	for i, s := range samples {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('[')
		for j, t := range s {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprint(&b, t)
		}
		b.WriteByte(']')
	}
	b.WriteString("]}\n")
	return atomicfile.WriteFile(path, b.Bytes())
}

// loadSamples takes the first n texts in mllm's order (dataset.shuffle(42)),
// cut to MaxChars code points and tokenized as tokenizer(text) does.
// tokenizedSamples loads the tokenizer (tokenizer_name: a tokenizer.json
// or a directory holding one) and tokenizes the planned samples.
func tokenizedSamples(p *config.ProfileConfig) ([][]int32, error) {
	tokPath := p.TokenizerName
	if st, err := os.Stat(tokPath); err == nil && st.IsDir() {
		tokPath = filepath.Join(tokPath, "tokenizer.json")
	}
	tok, err := tokenizer.Load(tokPath)
	if err != nil {
		return nil, fmt.Errorf("profile: tokenizer_name: %w", err)
	}
	return loadSamples(p.DatasetPath, p.NumSamples, tok)
}

func loadSamples(dir string, n int, tok *tokenizer.Tokenizer) ([][]int32, error) {
	ds, err := dataset.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("profile: dataset_path: %w", err)
	}
	defer ds.Close()
	if ds.Len() < n {
		return nil, fmt.Errorf("profile: dataset_path: %s has %d samples, num_samples is %d", ds.Path(), ds.Len(), n)
	}
	var texts []string
	var index []int // dataset record of each sample
	for s, err := range ds.Shuffled(42, n) {
		if err != nil {
			return nil, fmt.Errorf("profile: dataset_path: %w", err)
		}
		texts = append(texts, dataset.Truncate(s.Text, MaxChars))
		index = append(index, s.Index)
	}
	if len(texts) != n {
		return nil, fmt.Errorf("profile: dataset_path %s gave %d samples, want %d", dir, len(texts), n)
	}
	out := make([][]int32, n)
	for i := range n {
		ids := tok.AddSpecialTokens(tok.Encode(texts[i], true))
		if len(ids) == 0 {
			return nil, fmt.Errorf("profile: sample %d (record %d, 0-based, of %s) tokenizes to nothing", i, index[i], ds.Path())
		}
		v := make([]int32, len(ids))
		for j, id := range ids {
			v[j] = int32(id)
		}
		out[i] = v
	}
	return out, nil
}

// applyRotation rotates w as profile_config.model_config asks and returns a
// digest of the matrices used and the R file written.
func applyRotation(o *Options, w *model.Weights, resuming, sharded bool) (string, string, error) {
	rot, digest, saved, err := chooseRotation(o, w.Config, resuming, sharded)
	if err != nil || rot == nil {
		return digest, saved, err
	}
	if err := rotate.RotateModel(w, rot); err != nil {
		return "", "", fmt.Errorf("profile: rotate: %w", err)
	}
	return digest, saved, nil
}

// chooseRotation returns the rotation profile_config.model_config asks for
// (nil without online_rotation), a digest of its matrices ("none" without)
// and the R file written.
func chooseRotation(o *Options, c *model.Config, resuming, sharded bool) (*rotate.Rotation, string, string, error) {
	mc := &o.Config.Profile.ModelConfig
	if !mc.OnlineRotation {
		return nil, "none", "", nil
	}
	var rot *rotate.Rotation
	var err error
	saved := ""
	switch {
	case mc.RandomRotate && resuming && o.Seed == nil:
		if mc.SaveRotation == "" {
			return nil, "", "", errors.New("profile: cannot resume a random_rotate run without --seed or save_rotation (the rotation would change)")
		}
		if rot, err = rotate.Load(mc.SaveRotation); err != nil {
			return nil, "", "", fmt.Errorf("profile: reload the saved rotation: %w", err)
		}
		o.logf("profile: reusing the rotation saved in %s", mc.SaveRotation)
	case mc.RandomRotate:
		if sharded && o.Seed == nil {
			return nil, "", "", errors.New("profile: shards of a random_rotate run need --seed (every shard must draw the same rotation)")
		}
		seed := uint64(0)
		if o.Seed != nil {
			seed = *o.Seed
		} else {
			var b [8]byte
			if _, err := rand.Read(b[:]); err != nil {
				return nil, "", "", err
			}
			seed = binary.LittleEndian.Uint64(b[:])
			o.logf("profile: random rotation seed %d", seed)
		}
		o.drawnSeed = &seed
		if rot, err = rotate.NewRotation(c.HiddenSize, c.HeadDim, c.NumLayers, seed); err != nil {
			return nil, "", "", fmt.Errorf("profile: %w", err)
		}
		if mc.SaveRotation != "" {
			if err := rot.Save(mc.SaveRotation); err != nil {
				return nil, "", "", fmt.Errorf("profile: save_rotation: %w", err)
			}
			saved = mc.SaveRotation
		}
	case mc.RPath != "":
		if rot, err = rotate.Load(mc.RPath); err != nil {
			return nil, "", "", fmt.Errorf("profile: R_path: %w", err)
		}
	default:
		return nil, "", "", errors.New("profile: online_rotation is true but neither random_rotate nor R_path is set")
	}
	h := sha256.New()
	binary.Write(h, binary.LittleEndian, rot.R)
	for _, v := range rot.Rv {
		binary.Write(h, binary.LittleEndian, v)
	}
	return rot, hex.EncodeToString(h.Sum(nil)), saved, nil
}

// planDigest fingerprints everything that determines the statistics: the
// options, the (rotated) weights (sampled), the rotation and every token.
func planDigest(o *Options, w *model.Weights, rot string, samples [][]int32) string {
	var buf bytes.Buffer
	for _, l := range w.Linears() {
		digestLinear(&buf, l)
	}
	return planDigestOf(o, rot, buf.Bytes(), samples)
}

// digestLinear appends what planDigest fingerprints of one Linear.
func digestLinear(buf *bytes.Buffer, l *model.Linear) {
	fmt.Fprintf(buf, "%s %d %d|", l.Name, l.Out, l.In)
	for i := 0; i < 64; i++ {
		j := (len(l.W) - 1) * i / 63
		binary.Write(buf, binary.LittleEndian, math.Float32bits(l.W[j]))
	}
	if l.B != nil {
		binary.Write(buf, binary.LittleEndian, l.B)
	}
}

// planDigestOf is planDigest given digestLinear of every Linear in order.
func planDigestOf(o *Options, rot string, linears []byte, samples [][]int32) string {
	h := sha256.New()
	p := &o.Config.Profile
	fmt.Fprintf(h, "qnnkit-profile-v1\x00absmax=%v\x00no_bias=%v\x00rot=%s\x00", o.AbsMax, p.NoBias, rot)
	h.Write(linears)
	for _, s := range samples {
		binary.Write(h, binary.LittleEndian, int64(len(s)))
		binary.Write(h, binary.LittleEndian, s)
	}
	return hex.EncodeToString(h.Sum(nil))
}
