package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qnnkit/qnnkit/pkg/eval"
	"github.com/qnnkit/qnnkit/pkg/tokenizer"
	"github.com/urfave/cli/v3"
)

// textTokenizer is what the tasks need from a tokenizer.
type textTokenizer interface {
	Encode(text string, allowSpecial bool) []int
	Decode(ids []int) string
	ChatPrompt(user string) string
}

// loadTokenizer opens --tokenizer, or tokenizer.json in --model.
func loadTokenizer(cmd *cli.Command) (textTokenizer, error) {
	p := cmd.String("tokenizer")
	if p == "" {
		p = filepath.Join(cmd.String("model"), "tokenizer.json")
	}
	t, err := tokenizer.Load(p)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

// runPerplexity tokenizes --ppl and prints the token count, perplexity and
// forward throughput (scored tokens per second of model time).
func runPerplexity(ctx context.Context, cmd *cli.Command, eng engine, tok textTokenizer) error {
	path := cmd.String("ppl")
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !utf8.Valid(text) {
		return fmt.Errorf("%s: not valid UTF-8", path)
	}
	ids := tok.Encode(string(text), false)
	win := int(cmd.Int("ctx"))
	stdout, stderr := cmd.Root().Writer, cmd.Root().ErrWriter
	tty := false
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	opt := eval.Options{Ctx: win, MaxWindows: int(cmd.Int("max-windows")), Progress: func(done, total int) {
		switch {
		case tty && done < total:
			fmt.Fprintf(stderr, "\rrun: perplexity window %d/%d", done, total)
		case tty:
			fmt.Fprintf(stderr, "\rrun: perplexity window %d/%d\n", done, total)
		case done == total || done%16 == 0:
			fmt.Fprintf(stderr, "run: perplexity window %d/%d\n", done, total)
		}
	}}
	res, err := eval.Perplexity(ids, eng.Vocab(), opt, func(w []int) ([]float32, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return eng.Window(w)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(stdout, "file: %s\n", path)
	fmt.Fprintf(stdout, "tokens: %d\n", len(ids))
	fmt.Fprintf(stdout, "windows: %d x %d (scored tokens: %d)\n", res.Windows, win, res.Count)
	fmt.Fprintf(stdout, "perplexity: %.6f\n", res.PPL())
	fmt.Fprintf(stdout, "tokens/s: %.1f\n", float64(res.Windows*(win-1))/res.Elapsed.Seconds())
	return nil
}

// runPrompt answers --prompt greedily, streaming the text to stdout.
func runPrompt(ctx context.Context, cmd *cli.Command, eng engine, tok textTokenizer) error {
	ids := tok.Encode(tok.ChatPrompt(cmd.String("prompt")), true)
	stdout, stderr := cmd.Root().Writer, cmd.Root().ErrWriter
	maxNew := int(cmd.Int("max-new-tokens"))
	if maxNew < 1 {
		return fmt.Errorf("--max-new-tokens %d must be at least 1", maxNew)
	}
	t0 := time.Now()
	logits, err := eng.Start(ids, len(ids)+maxNew)
	if err != nil {
		return err
	}
	prefill := time.Since(t0)
	stop := append([]int(nil), eng.EOS()...)
	if ti, ok := tok.(interface{ TokenID(string) (int, bool) }); ok {
		for _, s := range []string{"<|im_end|>", "<|endoftext|>"} {
			if id, ok := ti.TokenID(s); ok {
				stop = append(stop, id)
			}
		}
	}
	t1 := time.Now()
	var out []int
	printed := ""
	for len(out) < maxNew {
		if err := ctx.Err(); err != nil {
			return err
		}
		id := argmax(logits)
		if slices.Contains(stop, id) {
			break
		}
		out = append(out, id)
		if s := tok.Decode(out); strings.HasPrefix(s, printed) && !strings.HasSuffix(s, "\uFFFD") {
			fmt.Fprint(stdout, s[len(printed):])
			printed = s
		}
		if len(out) == maxNew {
			break
		}
		if logits, err = eng.Next(id); err != nil {
			return err
		}
	}
	if s := tok.Decode(out); s != printed && strings.HasPrefix(s, printed) {
		fmt.Fprint(stdout, s[len(printed):])
	}
	fmt.Fprintln(stdout)
	dec := time.Since(t1)
	fmt.Fprintf(stderr, "run: prompt %d tokens, prefill %.1f tokens/s; generated %d tokens, %.1f tokens/s\n",
		len(ids), float64(len(ids))/prefill.Seconds(), len(out), float64(len(out))/dec.Seconds())
	return nil
}

func argmax(x []float32) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}
