// Command profile computes mllm's activation statistics (the "scale JSON"
// of get_distribution.py, spec §2) for the export:
//
//	profile --config_file CFG.json [--absmax] [--resume] [--stats-out F] [--seed N] [--shard i/n] [--plot P]
//	profile --config_file CFG.json --stream [--absmax] [--stats-out F] [--seed N] [--plot P]
//	profile --merge A.stats B.stats ... [-o scale.json] [--config_file CFG.json]
//
// It loads profile_config.model_config.model_name, rotates it (random_rotate
// + save_rotation, or R_path), takes num_samples texts of dataset_path in
// mllm's order, runs the FP32 forward of each and records every Linear's
// input and (no_bias) bias-free output, lm_head included. The statistics
// are exact (identical to NumPy over all values) with memory that does not
// grow with the number of samples; they are checkpointed after every sample.
// With --stream the model is instead run one decoder layer at a time over
// all samples (same statistics; memory ≈ one layer + the samples'
// activations, for models whose float32 weights do not fit in memory; no
// per-sample checkpoints, so no --resume or --shard).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/qnnkit/qnnkit/pkg/calib"
	"github.com/qnnkit/qnnkit/pkg/calib/profile"
	"github.com/qnnkit/qnnkit/pkg/config"
	"github.com/qnnkit/qnnkit/pkg/manifest"
)

func main() {
	if err := newCommand().Run(context.Background(), os.Args); err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "profile:") {
			msg = "profile: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}

func newCommand() *cli.Command {
	return &cli.Command{
		Name:      "profile",
		Usage:     "compute the scale JSON (activation ranges of every Linear), like mllm's get_distribution.py",
		ArgsUsage: "[A.stats B.stats ... with --merge]",
		Description: "Writes profile_config.output_path: for every Linear (first-call order, lm_head last) the\n" +
			"maximum (ori), the value at sorted index int(N*0.999)-1 (top_0_1) and mean/std of its inputs and\n" +
			"bias-free outputs over all num_samples samples. ori/top_0_1 are exact (NumPy-identical);\n" +
			"mean/std are computed from exact sums and rounded to float32 (NumPy sums float32 pairwise, so\n" +
			"their last digits may differ from mllm's). Values are signed (mllm's behaviour) unless --absmax.\n" +
			"\n" +
			"Statistics are checkpointed to --stats-out (default OUTPUT.stats) after every sample;\n" +
			"--resume continues a killed run from it with an identical result. --shard i/n records\n" +
			"samples [i*S/n, (i+1)*S/n) of the same plan into --stats-out; --merge combines the complete\n" +
			"shard files into exactly the single-run JSON. A plot of the ranges is written next to the JSON.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config_file", Usage: "mllm JSON config (profile_config is used; export_config's t01m_clip_threshold marks the plot)"},
			&cli.BoolFlag{Name: "absmax", Usage: "ori/top_0_1 over absolute values instead of signed values (not mllm's behaviour; mean/std stay signed)"},
			&cli.BoolFlag{Name: "resume", Usage: "continue from the statistics checkpoint (--stats-out) if it exists"},
			&cli.StringFlag{Name: "stats-out", Usage: "statistics checkpoint / shard result file (default: output_path + \".stats\")"},
			&cli.BoolFlag{Name: "merge", Usage: "merge the complete shard statistics files given as arguments and write the scale JSON"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "scale JSON written by --merge (default: the config's profile_config.output_path)"},
			&cli.StringFlag{Name: "plot", Usage: "write the range plot here (.png or .svg; default: the scale JSON path with .png; \"none\" to skip)"},
			&cli.Uint64Flag{Name: "seed", HideDefault: true, Usage: "seed of random_rotate (default: a random seed, printed; a resumed run reloads save_rotation); required with --shard and random_rotate"},
			&cli.StringFlag{Name: "shard", Usage: "record only shard i of n (\"i/n\", 0-based) of the sample plan"},
			&cli.IntFlag{Name: "threshold", HideDefault: true, Usage: "t01m_clip_threshold marked in the plot and summary (default: export_config's, else 64)"},
			&cli.StringFlag{Name: "dump-tokens", Usage: "also write the token ids of every planned sample as JSON (for scripts/interop_profile.py)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			&cli.BoolFlag{Name: "stream", Usage: "run one decoder layer at a time over all samples (same result, memory ≈ one layer + activations; no per-sample checkpoints: not with --resume or --shard)"},
		},
		Action: run,
	}
}

func run(_ context.Context, cmd *cli.Command) error {
	var cfg *config.Config
	if p := cmd.String("config_file"); p != "" {
		c, err := config.Load(p)
		if err != nil {
			return err
		}
		for _, w := range c.Warnings() {
			fmt.Fprintln(os.Stderr, "profile: warning:", w)
		}
		cfg = c
	}
	threshold, clipAll := (*int)(nil), false
	if cfg != nil {
		threshold, clipAll = cfg.Export.T01mClipThreshold, cfg.Export.ClipAll
	}
	if cmd.IsSet("threshold") {
		t := int(cmd.Int("threshold"))
		threshold, clipAll = &t, false
	}

	if cmd.Bool("merge") {
		return runMerge(cmd, cfg, threshold, clipAll)
	}
	if cmd.Args().Len() > 0 {
		return fmt.Errorf("unexpected arguments %q (statistics files are arguments only with --merge)", cmd.Args().Slice())
	}
	if cfg == nil {
		return errors.New("--config_file is required (see --help)")
	}
	if err := config.EnsureParentDir(cfg.Profile.OutputPath); err != nil {
		return fmt.Errorf("profile_config.output_path: %w", err)
	}
	o := profile.Options{
		Config:    cfg,
		AbsMax:    cmd.Bool("absmax"),
		StatsPath: cmd.String("stats-out"),
		Resume:    cmd.Bool("resume"),
		Log:       os.Stderr,
		TokensOut: cmd.String("dump-tokens"),
		Stream:    cmd.Bool("stream"),
	}
	if cmd.IsSet("seed") {
		s := cmd.Uint64("seed")
		o.Seed = &s
	}
	if s := cmd.String("shard"); s != "" {
		i, n, err := parseShard(s)
		if err != nil {
			return err
		}
		o.Shard, o.Shards = i, n
	}
	if !cmd.Bool("quiet") {
		o.Progress = os.Stderr
	}
	res, err := profile.Run(o)
	if err != nil {
		return err
	}
	if res.RotationSaved != "" {
		fmt.Printf("rotation: %s\n", res.RotationSaved)
	}
	fmt.Printf("statistics: %s (samples %d..%d of %d, %d tokens in the plan)\n", res.StatsPath, res.Meta.From, res.Meta.To, res.Meta.Total, res.Tokens)
	if res.Scale == nil {
		return nil
	}
	if err := report(cmd, res.Scale, cfg.Profile.OutputPath, threshold, clipAll); err != nil {
		return err
	}
	return manifest.Write(cmd, profileRun(cmd, cfg, res.Seed, res.RotationSaved), outputs(cfg.Profile.OutputPath, res.RotationSaved)...)
}

// profileRun lists a profiling run's inputs for its manifest.
func profileRun(cmd *cli.Command, cfg *config.Config, seed *uint64, saved string) manifest.Run {
	p := &cfg.Profile
	tok := p.TokenizerName
	if st, err := os.Stat(tok); err == nil && st.IsDir() {
		tok = filepath.Join(tok, "tokenizer.json")
	}
	r := manifest.Run{Config: cmd.String("config_file"), Seed: seed, Inputs: []manifest.Input{
		{Role: "checkpoint", Path: p.ModelName}, {Role: "tokenizer", Path: tok}, {Role: "dataset", Path: p.DatasetPath}}}
	switch {
	case !p.OnlineRotation:
	case p.RandomRotate && saved == "":
		r.Inputs = append(r.Inputs, manifest.Input{Role: "save_rotation", Path: p.SaveRotation}) // reloaded by --resume
	case !p.RandomRotate:
		r.Inputs = append(r.Inputs, manifest.Input{Role: "R_path", Path: p.RPath})
	}
	return r
}

// outputs lists the non-empty paths.
func outputs(paths ...string) []string {
	var out []string
	for _, p := range paths {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runMerge(cmd *cli.Command, cfg *config.Config, threshold *int, clipAll bool) error {
	files := cmd.Args().Slice()
	if len(files) == 0 {
		return errors.New("--merge needs the shard statistics files as arguments")
	}
	out := cmd.String("output")
	if out == "" && cfg != nil {
		out = cfg.Profile.OutputPath
	}
	if out == "" {
		return errors.New("--merge needs -o OUTPUT.json (or --config_file for its output_path)")
	}
	st, _, err := calib.MergeStatsFiles(files)
	if err != nil {
		return err
	}
	sf, err := st.Result()
	if err != nil {
		return err
	}
	if err := profile.WriteScaleFile(out, sf); err != nil {
		return err
	}
	if err := report(cmd, sf, out, threshold, clipAll); err != nil {
		return err
	}
	r := manifest.Run{Config: cmd.String("config_file")}
	for _, f := range files {
		r.Inputs = append(r.Inputs, manifest.Input{Role: "stats", Path: f})
	}
	return manifest.Write(cmd, r, out)
}

// report prints the summary on stdout and draws the plot.
func report(cmd *cli.Command, sf *calib.ScaleFile, out string, threshold *int, clipAll bool) error {
	fmt.Printf("scale file: %s (%d layers)\n", out, len(sf.Layers))
	if threshold == nil && !clipAll {
		t := 64
		threshold = &t
		fmt.Fprintln(os.Stderr, "profile: no t01m_clip_threshold known; the summary and plot use t = 64")
	}
	dec, err := sf.ClipDecisions(threshold, clipAll, nil, nil)
	if err != nil {
		return err
	}
	var in, outc int
	for _, d := range dec {
		if d.ClipIn {
			in++
		}
		if d.ClipOut {
			outc++
		}
	}
	t := "clip_all"
	if threshold != nil && !clipAll {
		t = "t01m_clip_threshold " + strconv.Itoa(*threshold)
	}
	fmt.Printf("clip at %s: %d/%d inputs, %d/%d outputs (the rest have outliers: scale = top_0_1)\n", t, in, len(dec), outc, len(dec))
	pp := cmd.String("plot")
	if pp == "none" {
		return nil
	}
	if pp == "" {
		pp = strings.TrimSuffix(out, filepath.Ext(out)) + ".png"
	}
	if err := writePlot(pp, sf, threshold, clipAll, filepath.Base(out)); err != nil {
		return err
	}
	fmt.Printf("plot: %s\n", pp)
	return nil
}

func parseShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 0 <= i < n", s)
	}
	return i, n, nil
}
