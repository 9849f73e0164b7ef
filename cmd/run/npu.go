package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/eval"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/runtime"
	"github.com/qnnkit/qnnkit/pkg/tokenizer"
	"github.com/urfave/cli/v3"
)

// npuMode runs mllm's deployed pair (pkg/runtime): the int8 NPU prefill
// model emulated on the CPU, then the CPU decoding model. It is selected by
// --qnn-model.
//
//	run -m NPU.mllm --decoding-model DEC.mllm --tokenizer T --config C --prompt TEXT
//	run -m NPU.mllm --decoding-model DEC.mllm --tokenizer T --config C --ppl FILE [--reference HF_DIR] [--json]
func npuMode() mode {
	return mode{
		name: "npu",
		flags: []cli.Flag{
			&cli.StringFlag{Name: "qnn-model", Aliases: []string{"m"}, Usage: "int8 NPU prefill model `FILE` (.mllm from exportqnn + convert); selects the deployed-pair mode"},
			&cli.StringFlag{Name: "decoding-model", Usage: "CPU decoding model `FILE` (.mllm: q4_k, q4_0, q8_0 or fp32)"},
			&cli.StringFlag{Name: "vocab", Aliases: []string{"v"}, Usage: "mllm vocab .mllm `FILE` (with --merge) instead of --tokenizer"},
			&cli.StringFlag{Name: "merge", Aliases: []string{"e"}, Usage: "BPE merges.txt `FILE` for --vocab"},
			&cli.StringFlag{Name: "config", Usage: "Hugging Face config.json `FILE` with the hyper-parameters (default: config.json of --reference or --model)"},
			&cli.IntFlag{Name: "limits", Aliases: []string{"l"}, Value: 400, Usage: "KV cache capacity in tokens (padded prompt + generated); exceeding it is an error"},
			&cli.IntFlag{Name: "thread", Aliases: []string{"t"}, Value: 4, Usage: "CPU threads"},
			&cli.IntFlag{Name: "chunk", Value: 256, Usage: "prefill chunk size (the prompt is padded to a multiple of it)"},
			&cli.StringFlag{Name: "htp-rounding", Value: "ref", Usage: "HTP op numerics: ref (op-package reference kernels) or hvx (device kernels)"},
			&cli.StringFlag{Name: "shadow-layers", Value: "auto", Usage: "layers run with shadow outlier execution: comma-separated indices, none, or auto (none for rotated models; for unrotated ones the layers whose down_proj has an outlier flag)"},
			&cli.FloatFlag{Name: "temperature", Usage: "sampling temperature (0: greedy, mllm's default)"},
			&cli.IntFlag{Name: "top-k", Usage: "sample among the k most likely tokens (0: all)"},
			&cli.FloatFlag{Name: "top-p", Usage: "sample from the smallest set with probability ≥ p (0: all)"},
			&cli.Uint64Flag{Name: "seed", Usage: "random seed for sampling"},
			&cli.StringFlag{Name: "reference", Usage: "Hugging Face model `DIR` for the FP32 column of the --ppl report"},
			&cli.BoolFlag{Name: "json", Usage: "with --ppl: end stdout with one JSON object {fp32, npu_prefill, deployed_pair, tokens}"},
		},
		selected: func(cmd *cli.Command) bool { return cmd.String("qnn-model") != "" },
		run:      runNPU,
	}
}

// npuSetup is everything the deployed-pair mode loads.
type npuSetup struct {
	cfg     *model.Config
	npuFile *mllmfmt.File
	decFile *mllmfmt.File
	prefill *runtime.Prefill
	dec     *runtime.Decoder
	tok     *tokenizer.Tokenizer
	threads int
}

func (s *npuSetup) close() {
	if s.npuFile != nil {
		s.npuFile.Close()
	}
	if s.decFile != nil {
		s.decFile.Close()
	}
}

// parseShadow parses --shadow-layers.
func parseShadow(s string, m *runtime.NPUModel) ([]int, error) {
	switch s {
	case "auto", "":
		return m.DefaultShadowLayers(), nil
	case "none":
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		i, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--shadow-layers %q: %q is not a layer index", s, f)
		}
		out = append(out, i)
	}
	return out, nil
}

func openNPU(cmd *cli.Command) (*npuSetup, error) {
	s := &npuSetup{threads: int(cmd.Int("thread"))}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	cfgPath := cmd.String("config")
	if cfgPath == "" {
		for _, d := range []string{cmd.String("reference"), cmd.String("model")} {
			if d != "" {
				cfgPath = filepath.Join(d, "config.json")
				break
			}
		}
	}
	if cfgPath == "" {
		return nil, fmt.Errorf("--config config.json is required with --qnn-model")
	}
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	if s.cfg, err = model.ParseConfig(raw); err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	if cmd.String("decoding-model") == "" {
		return nil, fmt.Errorf("--decoding-model is required with --qnn-model")
	}
	if s.npuFile, err = mllmfmt.Open(cmd.String("qnn-model")); err != nil {
		return nil, err
	}
	nm, err := runtime.LoadNPUModel(s.npuFile, s.cfg)
	if err != nil {
		return nil, err
	}
	mode, err := runtime.ParseRounding(cmd.String("htp-rounding"))
	if err != nil {
		return nil, err
	}
	shadow, err := parseShadow(cmd.String("shadow-layers"), nm)
	if err != nil {
		return nil, err
	}
	g, err := runtime.NewGraph(nm, runtime.GraphOptions{Rounding: mode, ShadowLayers: shadow, Threads: s.threads})
	if err != nil {
		return nil, fmt.Errorf("--shadow-layers: %w", err)
	}
	chunk := int(cmd.Int("chunk"))
	if chunk < 1 {
		return nil, fmt.Errorf("--chunk %d must be positive", chunk)
	}
	s.prefill = runtime.NewPrefill(g, chunk)
	if s.decFile, err = mllmfmt.Open(cmd.String("decoding-model")); err != nil {
		return nil, err
	}
	if s.dec, err = runtime.LoadDecoder(s.decFile, s.cfg, s.threads); err != nil {
		return nil, err
	}
	switch {
	case cmd.String("vocab") != "":
		if cmd.String("merge") == "" {
			return nil, fmt.Errorf("--vocab needs --merge")
		}
		s.tok, err = tokenizer.LoadMLLM(cmd.String("vocab"), cmd.String("merge"))
	case cmd.String("tokenizer") != "":
		s.tok, err = tokenizer.Load(cmd.String("tokenizer"))
	case cmd.String("reference") != "" || cmd.String("model") != "":
		d := cmd.String("reference")
		if d == "" {
			d = cmd.String("model")
		}
		s.tok, err = tokenizer.Load(filepath.Join(d, "tokenizer.json"))
	default:
		return nil, fmt.Errorf("give --tokenizer tokenizer.json or --vocab/--merge")
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	stderr := cmd.Root().ErrWriter
	rot := "unrotated"
	if nm.Rotated() {
		rot = "rotated"
	}
	fmt.Fprintf(stderr, "run: npu mode: %s (%s, %d layers, hidden %d), htp rounding %v, shadow layers %v, chunk %d\n",
		cmd.String("qnn-model"), rot, s.cfg.NumLayers, s.cfg.HiddenSize, mode, g.ShadowList(), chunk)
	fmt.Fprintf(stderr, "run: decoder: %s (%s)\n", cmd.String("decoding-model"), s.dec.Formats())
	ok = true
	return s, nil
}

func runNPU(ctx context.Context, cmd *cli.Command) error {
	s, err := openNPU(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	if cmd.String("ppl") != "" {
		return npuReport(ctx, cmd, s)
	}
	return npuPrompt(ctx, cmd, s)
}

func npuPrompt(ctx context.Context, cmd *cli.Command, s *npuSetup) error {
	stdout, stderr := cmd.Root().Writer, cmd.Root().ErrWriter
	sopt := runtime.SamplerOptions{Temperature: cmd.Float("temperature"), TopK: int(cmd.Int("top-k")),
		TopP: cmd.Float("top-p"), Seed: cmd.Uint64("seed")}
	if err := sopt.Validate(); err != nil {
		return err
	}
	maxNew := int(cmd.Int("max-new-tokens"))
	if maxNew < 1 {
		return fmt.Errorf("--max-new-tokens %d must be at least 1", maxNew)
	}
	if l := cmd.Int("limits"); l < 1 {
		return fmt.Errorf("--limits %d must be positive", l)
	}
	stop := append([]int(nil), s.cfg.EOSTokenIDs...)
	for _, t := range []string{"<|im_end|>", "<|endoftext|>"} {
		if id, ok := s.tok.TokenID(t); ok {
			stop = append(stop, id)
		}
	}
	gen := &runtime.Generator{Prefill: s.prefill, Decoder: s.dec, Limit: int(cmd.Int("limits")), Stop: stop,
		Sampler: runtime.NewSampler(sopt)}
	ids := s.tok.Encode(s.tok.ChatPrompt(cmd.String("prompt")), true)
	var out []int
	printed := ""
	st, err := gen.Generate(ids, maxNew, func(id int) bool {
		out = append(out, id)
		if t := s.tok.Decode(out); strings.HasPrefix(t, printed) && !strings.HasSuffix(t, "\uFFFD") {
			fmt.Fprint(stdout, t[len(printed):])
			printed = t
		}
		return ctx.Err() == nil
	})
	if t := s.tok.Decode(out); t != printed && strings.HasPrefix(t, printed) {
		fmt.Fprint(stdout, t[len(printed):])
	}
	fmt.Fprintln(stdout)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "run: prompt %d tokens, prefill %.1f tokens/s (NPU emulation); generated %d tokens, decode %.1f tokens/s\n",
		st.PromptTokens, st.PrefillRate(), st.Generated, st.DecodeRate())
	return nil
}

func npuReport(ctx context.Context, cmd *cli.Command, s *npuSetup) error {
	path := cmd.String("ppl")
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !utf8.Valid(text) {
		return fmt.Errorf("%s: not valid UTF-8", path)
	}
	ids := s.tok.Encode(string(text), false)
	stdout, stderr := cmd.Root().Writer, cmd.Root().ErrWriter
	var ref eval.LogitsFunc
	if d := cmd.String("reference"); d != "" {
		ck, err := checkpoint.Open(d)
		if err != nil {
			return err
		}
		defer ck.Close()
		w, err := model.Load(ck)
		if err != nil {
			return err
		}
		m := model.New(w)
		ref = func(in []int) ([]float32, error) { return m.Forward(in, nil) }
	}
	r, err := runtime.Evaluate(ids, s.prefill, s.dec, ref, runtime.ReportOptions{
		Ctx: int(cmd.Int("ctx")), MaxWindows: int(cmd.Int("max-windows")),
		Progress: func(done, total int) {
			if ctx.Err() == nil {
				fmt.Fprintf(stderr, "run: window %d/%d\n", done, total)
			}
		}})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(stdout, "file: %s (%d tokens)\n", path, len(ids))
	r.Format(stdout)
	if cmd.Bool("json") {
		js, err := r.JSON()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(js))
	}
	return nil
}
