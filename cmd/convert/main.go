// Command convert turns PyTorch / safetensors checkpoints into mllm v1
// .mllm parameter files and tokenizers into mllm vocab files, like mllm's
// tools/convertor/converter.py and vocab.py (byte-identical output by
// default), and inspects/validates .mllm, vocab, .pth and safetensors files.
//
//	convert --input_model=IN --output_model=OUT.mllm --type=torch|safetensor [--model_type=dense|sparse]
//	convert --type=vocab --input_model=tokenizer.json|vocab.json|tokenizer.model --output_model=vocab.mllm
//	convert inspect [--dump-json [--with-data]] FILE...
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/manifest"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v3"
)

func main() {
	if err := newCommand().Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "convert:", err)
		os.Exit(1)
	}
}

// progressThreshold: inputs at least this large get a progress bar.
const progressThreshold = 64 << 20

func newCommand() *cli.Command {
	return &cli.Command{
		Name:  "convert",
		Usage: "convert a checkpoint to an mllm v1 .mllm file, or a tokenizer to an mllm vocab file",
		Description: "Model conversion follows mllm's converter.py byte for byte:\n" +
			"  --type=torch: a .pth/.bin file (dict keys in insertion order; a \"model\" sub-dict is used\n" +
			"    instead of the root; keys starting with \"_\" and non-tensor values are skipped; nested\n" +
			"    dicts are flattened with \".\") or pytorch_model.bin.index.json (weight_map order).\n" +
			"  --type=safetensor: a .safetensors file (tensors in alphabetical order, like safe_open.keys())\n" +
			"    or any *.json index (weight_map order).\n" +
			"  int8 and bool tensors are written raw with code 16, uint8 raw with code 31, every other dtype\n" +
			"  as float32 with code 0. Index names get \"_weight\"->\".weight\", \"_bias\"->\".bias\".\n" +
			"  --model_type=sparse renames *down_proj.weight* (weight -> weight_T) and transposes the last\n" +
			"  two dimensions; it refuses QNN exports.\n" +
			"Vocab conversion (--type=vocab) follows vocab.py: tokenizer.json (BPE: vocab in file order then\n" +
			"every added token, score = id, merges to <output>.merges.txt; Unigram: [piece, score] with\n" +
			"running ids), vocab.json (token -> id, score = id) or a SentencePiece tokenizer.model.\n" +
			"One tensor is converted at a time, in chunks; outputs are written atomically.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input_model", Value: "model.bin", Usage: "input: .pth/.bin, .safetensors, an index .json, or for --type=vocab tokenizer.json (the default then), vocab.json or tokenizer.model"},
			&cli.StringFlag{Name: "output_model", Value: "model.mllm", Usage: "output .mllm file (vocab_uni.mllm for --type=vocab, as vocab.py)"},
			&cli.StringFlag{Name: "type", Value: "torch", Usage: "input kind: torch, safetensor or vocab"},
			&cli.StringFlag{Name: "model_type", Value: "dense", Usage: "dense or sparse (sparse: down_proj.weight -> transposed weight_T)"},
			&cli.BoolFlag{Name: "native_dtypes", Usage: "write float16, int16 and int32 tensors with their own codes (1, 17, 18) instead of converter.py's float32 (changes the output)"},
			&cli.StringFlag{Name: "vocab_type", Usage: "vocab.py's --type: BPE or Unigram (default: BPE for tokenizer.model and vocab.json; tokenizer.json files use their own model type either way)"},
			&cli.BoolFlag{Name: "dedup_added_tokens", Usage: "vocab: do not append added tokens already in the vocab with the same id (fixes vocab.py quirk Q17; changes the output)"},
			&cli.BoolFlag{Name: "plain_merges", Usage: "vocab: write list-form merges [\"a\",\"b\"] as \"a b\" instead of Python's repr (fixes Q17; changes the output)"},
			&cli.StringFlag{Name: "inspect", Usage: "inspect and validate this file instead of converting (same as the inspect command)"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
		},
		Commands: []*cli.Command{inspectCommand()},
		Action:   run,
	}
}

func run(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() > 0 {
		return fmt.Errorf("unexpected argument %q (flags are --input_model=..., --output_model=...; see --help)", cmd.Args().First())
	}
	if p := cmd.String("inspect"); p != "" {
		return inspectFiles(os.Stdout, []string{p}, inspectOptions{})
	}
	in, out, typ := cmd.String("input_model"), cmd.String("output_model"), cmd.String("type")
	if typ == "vocab" {
		// vocab.py's defaults
		if !cmd.IsSet("input_model") {
			in = "tokenizer.json"
		}
		if !cmd.IsSet("output_model") {
			out = "vocab_uni.mllm"
		}
	}
	if _, err := os.Stat(in); err != nil {
		return fmt.Errorf("--input_model: %w", err)
	}
	if typ == "vocab" {
		return runVocab(cmd, in, out)
	}
	mt := cmd.String("model_type")
	if mt != "dense" && mt != "sparse" {
		return fmt.Errorf("--model_type %q: want dense or sparse", mt)
	}
	if typ != "torch" && typ != "safetensor" {
		return fmt.Errorf("--type %q: want torch, safetensor or vocab", typ)
	}
	start := time.Now()
	src, err := openSource(in, typ)
	if err != nil {
		return err
	}
	defer src.Close()
	// Hash the input for the manifest on another core while converting
	// (the conversion itself runs on one): about a third of convert's CPU
	// time on a large checkpoint.
	man := manifest.Start(cmd, manifest.Run{Inputs: []manifest.Input{{Role: "checkpoint", Path: in}}})
	var total int64
	for _, t := range src.tensors {
		total += t.NumBytes()
	}
	opt := convertOptions{sparse: mt == "sparse", native: cmd.Bool("native_dtypes")}
	if total >= progressThreshold && !cmd.Bool("quiet") {
		bar := progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("convert"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
		)
		opt.progress = func(n int64) { bar.Add64(n) }
		defer bar.Finish()
	}
	size, sum, err := convertModel(src, out, opt)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d tensors, %d bytes (from %d bytes of %s tensors in %.2fs)\n", out, len(src.tensors), size, total, typ, time.Since(start).Seconds())
	man.SetOutputHash(out, size, sum)
	return man.Finish(out)
}

func runVocab(cmd *cli.Command, in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	vt := cmd.String("vocab_type")
	if vt != "" && vt != "BPE" && vt != "Unigram" {
		return fmt.Errorf("--vocab_type %q: want BPE or Unigram", vt)
	}
	opt := mllmfmt.VocabOptions{DedupAddedTokens: cmd.Bool("dedup_added_tokens"), PlainMerges: cmd.Bool("plain_merges")}
	var v *mllmfmt.Vocab
	switch {
	case strings.HasSuffix(in, ".model"):
		if vt == "Unigram" {
			return fmt.Errorf("%s: a SentencePiece model needs --vocab_type=BPE (vocab.py reads .model files only with --type BPE)", in)
		}
		v, err = mllmfmt.VocabFromSentencePiece(raw)
	case filepath.Base(in) == "vocab.json" && vt != "Unigram":
		v, err = mllmfmt.VocabFromVocabJSON(raw)
	default:
		v, err = mllmfmt.VocabFromTokenizerJSON(raw, opt)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	f, err := atomicfile.Create(out)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := mllmfmt.WriteVocab(f, v.Entries); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	var mf *atomicfile.File
	if len(v.Merges) > 0 {
		if mf, err = atomicfile.Create(out + ".merges.txt"); err != nil {
			return err
		}
		defer mf.Abort()
		if err := mllmfmt.WriteMerges(mf, v.Merges); err != nil {
			return fmt.Errorf("write %s.merges.txt: %w", out, err)
		}
	}
	if err := f.Commit(); err != nil {
		return err
	}
	fmt.Printf("%s: %d tokens\n", out, len(v.Entries))
	outs := []string{out}
	if mf != nil {
		if err := mf.Commit(); err != nil {
			return err
		}
		fmt.Printf("%s.merges.txt: %d merges\n", out, len(v.Merges))
		outs = append(outs, out+".merges.txt")
	}
	return manifest.Write(cmd, manifest.Run{Inputs: []manifest.Input{{Role: "tokenizer", Path: in}}}, outs...)
}
