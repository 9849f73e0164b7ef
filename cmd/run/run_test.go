package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/eval"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/tokenizer"
)

const tiny = "../../testdata/tinyqwen2"

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	c := newCommand()
	c.Writer, c.ErrWriter = &out, &errb
	err := c.Run(context.Background(), append([]string{"run"}, args...))
	return out.String(), errb.String(), err
}

func loadTiny(t *testing.T) (*model.Model, *tokenizer.Tokenizer) {
	t.Helper()
	ck, err := checkpoint.Open(tiny)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	w, err := model.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(filepath.Join(tiny, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	return model.New(w), tok
}

func field(t *testing.T, out, key string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			return v
		}
	}
	t.Fatalf("no %q line in output:\n%s", key, out)
	return ""
}

func TestPerplexityMode(t *testing.T) {
	text := "It was a truth universally acknowledged that Anne Elliot had been forced into prudence in her youth, " +
		"and learned romance as she grew older: the natural sequel of an unnatural beginning. "
	path := filepath.Join(t.TempDir(), "text.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat(text, 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, "--model", tiny, "--ppl", path, "--ctx", "24", "--max-windows", "3")
	if err != nil {
		t.Fatal(err)
	}
	m, tok := loadTiny(t)
	ids := tok.Encode(strings.Repeat(text, 3), false)
	want, err := eval.Perplexity(ids, m.W.Config.VocabSize, eval.Options{Ctx: 24, MaxWindows: 3}, func(w []int) ([]float32, error) {
		return m.Forward(w, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := field(t, out, "tokens"); got != strconv.Itoa(len(ids)) {
		t.Errorf("tokens: %s, want %d", got, len(ids))
	}
	if got := field(t, out, "windows"); got != "3 x 24 (scored tokens: 69)" {
		t.Errorf("windows: %s", got)
	}
	ppl, err := strconv.ParseFloat(field(t, out, "perplexity"), 64)
	if err != nil || math.Abs(ppl-want.PPL()) > 1e-6*want.PPL() {
		t.Errorf("perplexity %v (%v), want %.6f", ppl, err, want.PPL())
	}
	if v, err := strconv.ParseFloat(field(t, out, "tokens/s"), 64); err != nil || v <= 0 {
		t.Errorf("tokens/s: %v %v", v, err)
	}
}

func TestPromptModeIsGreedy(t *testing.T) {
	const n = 12
	out, _, err := runCmd(t, "--model", tiny, "--prompt", "Who is Captain Wentworth?", "--max-new-tokens", strconv.Itoa(n))
	if err != nil {
		t.Fatal(err)
	}
	// Reference: greedy decoding with full, cache-free forwards.
	m, tok := loadTiny(t)
	ids := tok.Encode(tok.ChatPrompt("Who is Captain Wentworth?"), true)
	var gen []int
	for len(gen) < n {
		lg, err := m.Forward(ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		id := argmax(lg[(len(ids)-1)*m.W.Config.VocabSize:])
		if id == 8189 || id == 8191 {
			break
		}
		gen = append(gen, id)
		ids = append(ids, id)
	}
	if want := tok.Decode(gen) + "\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"neither task", []string{"--model", tiny}, "exactly one of --ppl"},
		{"both tasks", []string{"--model", tiny, "--ppl", "x", "--prompt", "y"}, "exactly one of --ppl"},
		{"missing model", []string{"--ppl", "x"}, "model"},
		{"missing file", []string{"--model", tiny, "--ppl", "/nonexistent/file.txt"}, "/nonexistent/file.txt"},
		{"short file", []string{"--model", tiny, "--ppl", filepath.Join(tiny, "config.json")}, "do not fill one window of 512"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCmd(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}
