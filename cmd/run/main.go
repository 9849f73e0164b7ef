// Command run evaluates and runs a model.
//
//	run --model HF_DIR --ppl FILE [--ctx N] [--max-windows N]
//	run --model HF_DIR --prompt "..." [--max-new-tokens N]
//
// --ppl prints the token count, the perplexity and the throughput of the
// chosen mode over FILE (protocol: pkg/eval). --prompt wraps the text in the
// model's chat template and generates greedily.
//
// Modes: the float32 forward of pkg/model (default). A mode supplies an
// engine (window logits, prefill, decode step); the tasks (perplexity,
// generation) are shared by all modes.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"
)

func main() {
	if err := newCommand().Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
}

// engine is one loaded model as a mode provides it.
type engine interface {
	// Vocab is the length of a logits row.
	Vocab() int
	// Window returns the logits ([len(ids)][vocab]) of an independent
	// sequence at positions 0.. (used for perplexity).
	Window(ids []int) ([]float32, error)
	// Start begins a new sequence with room for capacity positions, runs
	// ids and returns the logits of the last one.
	Start(ids []int, capacity int) ([]float32, error)
	// Next appends id to the sequence and returns its logits.
	Next(id int) ([]float32, error)
	// EOS lists the ids that end generation.
	EOS() []int
	// Describe is a one-line summary for the progress output.
	Describe() string
	// Close releases the model.
	Close() error
}

// mode is one way of running a model. The first mode whose selected
// returns true (nil: always) is used, so the default mode goes last.
type mode struct {
	name     string
	flags    []cli.Flag
	selected func(cmd *cli.Command) bool
	open     func(ctx context.Context, cmd *cli.Command) (engine, error)
	// run, when non-nil, replaces the shared tasks: the mode handles
	// --ppl and --prompt itself (the deployed-pair mode, npu.go).
	run func(ctx context.Context, cmd *cli.Command) error
}

// modes lists the modes in selection order.
func modes() []mode {
	return []mode{npuMode(), fp32Mode()}
}

func newCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "model", Usage: "Hugging Face model directory (config.json, safetensors, tokenizer.json); required except with --qnn-model"},
		&cli.StringFlag{Name: "tokenizer", Usage: "tokenizer.json to use instead of the one in --model"},
		&cli.StringFlag{Name: "ppl", Usage: "UTF-8 text `FILE` to measure perplexity on (tokenized without special tokens)"},
		&cli.IntFlag{Name: "ctx", Value: 512, Usage: "perplexity window length in tokens"},
		&cli.IntFlag{Name: "max-windows", Usage: "evaluate at most this many windows (0: all full windows)"},
		&cli.StringFlag{Name: "prompt", Usage: "user message to answer (chat template applied; greedy, except for the deployed-pair sampling flags)"},
		&cli.IntFlag{Name: "max-new-tokens", Value: 128, Usage: "generation limit for --prompt"},
	}
	for _, m := range modes() {
		flags = append(flags, m.flags...)
	}
	return &cli.Command{
		Name:  "run",
		Usage: "measure perplexity of a model or generate an answer with it",
		UsageText: "run --model HF_DIR --ppl FILE [--ctx N] [--max-windows N]\n" +
			"run --model HF_DIR --prompt TEXT [--max-new-tokens N]\n" +
			"run -m NPU.mllm --decoding-model DEC.mllm --tokenizer T --config C --prompt TEXT [--chunk N] [-l N] [sampling flags]\n" +
			"run -m NPU.mllm --decoding-model DEC.mllm --tokenizer T --config C --ppl FILE [--ctx N] [--max-windows N] [--reference HF_DIR] [--json]",
		Flags: flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			hasPPL, hasPrompt := cmd.String("ppl") != "", cmd.IsSet("prompt")
			if hasPPL == hasPrompt {
				return fmt.Errorf("give exactly one of --ppl FILE and --prompt TEXT")
			}
			var m *mode
			for _, c := range modes() {
				if c.selected == nil || c.selected(cmd) {
					m = &c
					break
				}
			}
			if m == nil {
				return fmt.Errorf("no mode matches the given flags")
			}
			if m.run != nil {
				return m.run(ctx, cmd)
			}
			if cmd.String("model") == "" {
				return fmt.Errorf("--model HF_DIR is required (or --qnn-model for the deployed-pair mode)")
			}
			eng, err := m.open(ctx, cmd)
			if err != nil {
				return err
			}
			defer eng.Close()
			fmt.Fprintf(cmd.Root().ErrWriter, "run: %s mode: %s\n", m.name, eng.Describe())
			tok, err := loadTokenizer(cmd)
			if err != nil {
				return err
			}
			if hasPPL {
				return runPerplexity(ctx, cmd, eng, tok)
			}
			return runPrompt(ctx, cmd, eng, tok)
		},
	}
}
