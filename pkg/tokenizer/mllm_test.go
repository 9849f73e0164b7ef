package tokenizer

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMLLMVocabMatchesTokenizerJSON(t *testing.T) {
	dir := "../../testdata/tokenizer"
	mt, err := LoadMLLM(filepath.Join(dir, "qwen2.5_vocab.mllm"), filepath.Join(dir, "qwen2.5_merges.txt"))
	if err != nil {
		t.Fatal(err)
	}
	full := fullQwen2(t)
	if got, want := mt.VocabSize(), 151665; got != want {
		t.Errorf("VocabSize %d, want %d", got, want)
	}
	if got := len(mt.AddedTokens()); got != 22 {
		t.Errorf("%d added tokens, want 22", got)
	}
	texts, want := llamaCppVectors(t)
	for i, s := range texts {
		if got := mt.Encode(s, true); !eqInts(got, want[i]) {
			t.Errorf("vector %d %q: got %v want %v", i, s, got, want[i])
		}
	}
	wiki, err := os.ReadFile("../../testdata/text/wikitext2-test.txt")
	if err != nil {
		t.Fatal(err)
	}
	prompt := mt.ChatPrompt("Hello <|im_end|> world <tool_call>") + string(wiki[:5000])
	for _, allow := range []bool{true, false} {
		a, b := mt.Encode(prompt, allow), full.Encode(prompt, allow)
		if !eqInts(a, b) {
			t.Errorf("allowSpecial=%v: mllm and tokenizer.json ids differ", allow)
		}
		if mt.Decode(a) != full.Decode(b) {
			t.Errorf("allowSpecial=%v: decodes differ", allow)
		}
	}
	part := string(wiki[:100000])
	if a, b := mt.Encode(part, false), full.Encode(part, false); !eqInts(a, b) {
		t.Errorf("wikitext2 first 100 kB: mllm and tokenizer.json ids differ")
	}
}

func TestReadMerges(t *testing.T) {
	cases := []struct {
		name, content string
		want          [][2]string
		bad           bool
	}{
		{"plain", "#version: 0.2\nĠ Ġ\n[ ]\n\n", [][2]string{{"Ġ", "Ġ"}, {"[", "]"}}, false},
		{"repr", "['a', 'b']\n[\"'\", 'x\\\\y']\n['[', ']']\n", [][2]string{{"a", "b"}, {"'", `x\y`}, {"[", "]"}}, false},
		{"nospace", "a b\nnospace\n", nil, true},
		{"badrepr", "['a', 'b']\n['a' 'b']\n", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "m.txt")
			if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadMerges(p)
			if c.bad {
				if err == nil {
					t.Fatalf("malformed file accepted: %q", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			for i := range c.want {
				if got[i] != c.want[i] {
					t.Errorf("merge %d: got %q, want %q", i, got[i], c.want[i])
				}
			}
		})
	}
}
