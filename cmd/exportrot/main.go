// Command exportrot is mllm's export_rotate_model.py: it writes the rotated
// float32 model (the input of convert + quantize for the CPU decoder).
//
//	exportrot --config_file CFG.json [--output_model PATH] [--format auto|pth|mllm]
//
// It streams export_config.model_config.model_name one decoder layer at a
// time in float32, folds the R file R_path into each part when
// online_rotation is set (untie, fuse norms, rotate), and writes the state
// dict in module registration order; peak memory ≈ embedding or lm_head +
// two layers (the next one is computed while the last is written). The
// output path is --output_model, or export_config.output_model (which mllm
// shares with exportqnn — quirk Q9 — so pass --output_model to keep both).
// A path ending in .mllm (or --format mllm) gets the .mllm converter.py
// would make from the .pth, in the same key order; anything else gets the
// .pth. Written atomically.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/qnnkit/qnnkit/pkg/config"
	"github.com/qnnkit/qnnkit/pkg/export"
	"github.com/qnnkit/qnnkit/pkg/manifest"
	"github.com/urfave/cli/v3"
)

func main() {
	if err := newCommand().Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "exportrot:", err)
		os.Exit(1)
	}
}

func newCommand() *cli.Command {
	return &cli.Command{
		Name:      "exportrot",
		Usage:     "export the rotated float32 model described by an mllm config (export_rotate_model.py)",
		UsageText: "exportrot --config_file CFG.json [--output_model PATH] [--format auto|pth|mllm]",
		Description: "Reads export_config.model_config (model_name, online_rotation + R_path) and writes the\n" +
			"fused, rotated, untied float32 state dict (norm weights 1.0) in registration order.\n" +
			"Output: --output_model, else export_config.output_model (the path exportqnn also uses by\n" +
			"default). .pth by default; .mllm (converter.py layout, all F32) when the path ends in .mllm\n" +
			"or --format mllm. Written atomically. The model is streamed: a decoder layer (or the embedding,\n" +
			"or lm_head) is computed while the one before it is written (at most two parts and 128 MB of\n" +
			"finished tensors in memory).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config_file", Usage: "mllm JSON config `FILE`", Required: true},
			&cli.StringFlag{Name: "output_model", Usage: "output `PATH` (overrides export_config.output_model)"},
			&cli.StringFlag{Name: "format", Value: "auto", Usage: "output format: auto (by extension: .mllm → mllm, else pth), pth or mllm"},
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
	// The inputs are hashed for the manifest while the model is exported.
	pending := manifest.Start(cmd, manifest.Run{Config: cfgPath, Inputs: []manifest.Input{
		{Role: "checkpoint", Path: ec.ModelName}, {Role: "R_path", Path: export.RotationPath(ec)}}})
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
	state := m.RotatedState()
	fmt.Fprintf(os.Stderr, "writing %d tensors to %s (%s)\n", len(state), out, format)
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
