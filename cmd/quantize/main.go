// Command quantize converts an F32 .mllm parameter file into a block
// quantized one, like mllm's C++ tool (mllm v1: tools/quantizer):
//
//	quantize [--keep-order] IN.mllm OUT.mllm Q4_K|Q4_0|Q8_0|Q6_K|Q8_K
//
// Per-tensor types follow mllm's rules: names containing embed_tokens or
// word_embeddings → Q4_0; names containing norm, rope, bias, rotary_emb (and
// mllm's other F32 fragments) or ending in "scale" → F32; int8 tensors
// (code 16) are copied untouched; everything else → the target type. A missing lm_head.weight is
// synthesized from model.embed_tokens.weight. Tensors are written in
// alphabetical order, as mllm's tool does, so the output is byte-identical
// to mllm's; --keep-order keeps the input's order instead. The output is
// written atomically.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/manifest"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/quant"
	"github.com/urfave/cli/v3"
)

func main() {
	if err := newCommand().Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "quantize:", err)
		os.Exit(1)
	}
}

func typeNames() string {
	var n []string
	for k := range quant.Targets() {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, "|")
}

func newCommand() *cli.Command {
	return &cli.Command{
		Name:      "quantize",
		Usage:     "quantize an F32 .mllm file to a ggml block format, as mllm's quantize tool does",
		ArgsUsage: "IN.mllm OUT.mllm " + typeNames(),
		Description: "Per-tensor types (mllm's rules, first match wins): names containing embed_tokens or\n" +
			"word_embeddings → Q4_0; names containing norm, rope, bias, rotary_emb, _GN, class_embedding,\n" +
			"embeddings, logit_scale, modality_*, pre_transformer_layer, pos_embed.inv_freq, ln_q or\n" +
			"patch_embed.proj, or ending in \"scale\" (QNN exports' scales; a qnnkit addition) → F32;\n" +
			"int8 tensors (code 16) → copied untouched; all others → the target type.\n" +
			"A missing lm_head.weight is made from model.embed_tokens.weight (appended last).\n" +
			"Tensors are written in alphabetical order like mllm's tool (std::map order), which makes the\n" +
			"whole output file byte-identical to mllm's; --keep-order keeps the input order instead.\n" +
			"Block bytes equal mllm's reference quantizers (Q8_0: its x86-64 AVX2 path).\n" +
			"The output file is written atomically (temporary file + rename).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "keep-order", Usage: "write tensors in the input's order instead of mllm's alphabetical order"},
			&cli.BoolFlag{Name: "quiet", Usage: "do not print per-tensor progress on stderr"},
		},
		Action: run,
	}
}

func run(_ context.Context, cmd *cli.Command) error {
	args := cmd.Args().Slice()
	if len(args) != 3 {
		return fmt.Errorf("want 3 arguments IN.mllm OUT.mllm TYPE, got %d (see --help)", len(args))
	}
	inPath, outPath, typ := args[0], args[1], args[2]
	target, ok := quant.Targets()[typ]
	if !ok {
		return fmt.Errorf("quant type %q is not supported (want %s)", typ, typeNames())
	}
	in, err := mllmfmt.Open(inPath)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := atomicfile.Create(outPath)
	if err != nil {
		return err
	}
	defer out.Abort()
	// Hash the input for the manifest while quantizing: hashed after the
	// output, it was a single-core tail of 6.5 s on a 7.35 GB input.
	man := manifest.Start(cmd, manifest.Run{Inputs: []manifest.Input{{Role: "input", Path: inPath}}})
	opt := quant.FileOptions{KeepOrder: cmd.Bool("keep-order")}
	if !cmd.Bool("quiet") {
		opt.Progress = func(i, n int, name string, from, to mllmfmt.DType) {
			fmt.Fprintf(os.Stderr, "[%d/%d] %s %v -> %v\n", i+1, n, name, from, to)
		}
	}
	// Hashed as written, so never read back: written around the page
	// cache (the next reader, run, maps it from the disk either way).
	out.WriteDirect()
	hw := manifest.NewHashWriter(out)
	n, err := quant.QuantizeFile(in, hw, target, opt)
	if err != nil {
		return err
	}
	size, sum, ok := hw.Sum()
	if !ok {
		return fmt.Errorf("%s: incomplete write", outPath)
	}
	if err := out.Commit(); err != nil {
		return err
	}
	man.SetOutputHash(outPath, size, sum)
	fmt.Printf("%s: %d tensors, %d bytes (%s)\n", outPath, n, size, typ)
	return man.Finish(outPath)
}
