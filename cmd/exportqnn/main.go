// Command exportqnn is mllm's export_qnn_model.py: it writes the int8 NPU
// model of a Qwen2 checkpoint from an mllm JSON config.
//
//	exportqnn --config_file CFG.json [--output_model PATH] [--format auto|pth|mllm] [--scale-true-div]
//
// From export_config it streams model_config.model_name one decoder layer at
// a time (float32, the R file R_path folded in when online_rotation is set;
// peak memory ≈ embedding or lm_head + two layers, the next one computed
// while the last is written), reads scale_file (the
// profiling scale JSON), applies the clip rule (t01m_clip_threshold, strict
// '>', clip_all, skip_layers.no_clip_*), and writes every profiled Linear
// weight as int8 [in][out] with `.weight.scale`, plus input/output scales
// and clip flags per profiled layer; lm_head stays float32. The output is
// export_config.output_model unless --output_model is given: a PyTorch .pth
// (torch.load(..., weights_only=True) reads it) or, when the path ends in
// .mllm or --format mllm is given, the .mllm that converter.py would make
// from that .pth. quant_bias is refused; a scale JSON whose layers differ
// from the model's Linear layers is refused. Clip counters go to stdout as
// mllm prints them; progress goes to stderr.
package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime/debug"

	"github.com/qnnkit/qnnkit/pkg/calib"
	"github.com/qnnkit/qnnkit/pkg/config"
	"github.com/qnnkit/qnnkit/pkg/export"
	"github.com/qnnkit/qnnkit/pkg/manifest"
	"github.com/urfave/cli/v3"
)

func main() {
	if err := newCommand().Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "exportqnn:", err)
		os.Exit(1)
	}
}

func newCommand() *cli.Command {
	return &cli.Command{
		Name:      "exportqnn",
		Usage:     "export the int8 QNN (NPU) model described by an mllm config (export_qnn_model.py)",
		UsageText: "exportqnn --config_file CFG.json [--output_model PATH] [--format auto|pth|mllm] [--scale-true-div]",
		Description: "Reads export_config: model_config (model_name, online_rotation + R_path), scale_file,\n" +
			"t01m_clip_threshold, clip_all, quant_bias (must be false), output_model.\n" +
			"Weights of profiled Linear layers become int8 per tensor, scale = max(amax,1e-5)·float32(1/127)\n" +
			"(the CUDA arithmetic of mllm's script; --scale-true-div uses amax/127), rounded half to even,\n" +
			"stored transposed [in][out]. Output: .pth by default, or .mllm (converter.py layout and dtype\n" +
			"codes) when the path ends in .mllm or --format mllm. Written atomically. The model is streamed:\n" +
			"a decoder layer (or the embedding, or lm_head) is computed while the one before it is written\n" +
			"(at most two parts and 128 MB of finished tensors in memory).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config_file", Usage: "mllm JSON config `FILE`", Required: true},
			&cli.StringFlag{Name: "output_model", Usage: "output `PATH` (overrides export_config.output_model)"},
			&cli.StringFlag{Name: "format", Value: "auto", Usage: "output format: auto (by extension: .mllm → mllm, else pth), pth or mllm"},
			&cli.BoolFlag{Name: "scale-true-div", Usage: "weight scale amax/127 (IEEE division) instead of CUDA's amax·float32(1/127)"},
		},
		Action: run,
	}
}

func run(_ context.Context, cmd *cli.Command) error {
	cfgPath := cmd.String("config_file")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	ec := cfg.Export
	target, err := export.ResolveTarget(ec, cmd.String("output_model"), cmd.IsSet("output_model"), cmd.String("format"))
	if err != nil {
		return err
	}
	out, format := target.Path, target.Format
	if err := export.CheckQNNConfig(ec); err != nil {
		return fmt.Errorf("%s: %w", cfgPath, err)
	}
	sf, err := calib.ReadScaleFile(ec.ScaleFile)
	if err != nil {
		return err
	}
	if err := checkFinite(sf, ec.ScaleFile); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "model: %s\nscale file: %s\noutput model: %s (%s)\n", ec.ModelName, ec.ScaleFile, out, format)
	// The inputs are hashed for the manifest while the model is exported.
	pending := manifest.Start(cmd, manifest.Run{Config: cfgPath, Inputs: []manifest.Input{
		{Role: "checkpoint", Path: ec.ModelName}, {Role: "R_path", Path: export.RotationPath(ec)}, {Role: "scale_file", Path: ec.ScaleFile}}})
	m, err := export.OpenModel(ec.ModelConfig, os.Stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	if os.Getenv("GOMEMLIMIT") == "" && m.MemoryLimit() > 0 {
		// Collect each written part's garbage in time without forcing
		// collections: peak memory stays about one part above the model's
		// largest part.
		debug.SetMemoryLimit(m.MemoryLimit())
	}
	state, rep, err := m.QNNState(sf, ec.ScaleFile, ec, export.QNNOptions{TrueDiv: cmd.Bool("scale-true-div")})
	if err != nil {
		return err
	}
	rep.Print(os.Stdout)
	fmt.Fprintf(os.Stderr, "writing %d tensors\n", len(state))
	d, err := export.WriteDigest(out, format, state)
	if err != nil {
		return err
	}
	if d.SHA256 != "" {
		pending.SetOutputHash(out, d.Size, d.SHA256)
	}
	fmt.Printf("Model saved to %s\n", out)
	return pending.Finish(out)
}

// checkFinite refuses a scale file whose ori or top_0_1 value is NaN or
// infinite: the clip rule would pick it as an activation scale and the NPU
// model would quantize with it (Python's json reads NaN/Infinity silently).
func checkFinite(sf *calib.ScaleFile, path string) error {
	for _, l := range sf.Layers {
		for _, v := range []struct {
			key string
			r   calib.Range
		}{{"ori", sf.Ori[l]}, {"top_0_1", sf.Top01[l]}} {
			for _, d := range []struct {
				dir string
				x   float64
			}{{"input", v.r.Input}, {"output", v.r.Output}} {
				if math.IsNaN(d.x) || math.IsInf(d.x, 0) {
					return fmt.Errorf("%s: %s.%q.%s is %v: activation ranges must be finite (did the profiled model overflow?)", path, v.key, l, d.dir, d.x)
				}
			}
		}
	}
	return nil
}
