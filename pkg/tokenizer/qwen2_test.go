package tokenizer

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	qwen2JSON = "../../testdata/tokenizer/qwen2-tokenizer.json"
	tinyJSON  = "../../testdata/tinyqwen2/tokenizer.json"
)

var (
	qwenOnce sync.Once
	qwenTok  *Tokenizer
	qwenErr  error
)

// fullQwen2 loads the full Qwen2 tokenizer once per test binary.
func fullQwen2(t testing.TB) *Tokenizer {
	t.Helper()
	qwenOnce.Do(func() { qwenTok, qwenErr = Load(qwen2JSON) })
	if qwenErr != nil {
		t.Fatal(qwenErr)
	}
	return qwenTok
}

// llamaCppVectors reads llama.cpp's tokenizer test vectors.
func llamaCppVectors(t *testing.T) ([]string, [][]int) {
	t.Helper()
	inp, err := os.ReadFile("../../testdata/tokenizer/qwen2-vectors.inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile("../../testdata/tokenizer/qwen2-vectors.out")
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	texts = texts[:len(texts)-1] // the file ends with a separator
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(texts) != len(lines) {
		t.Fatalf("%d inputs but %d output lines", len(texts), len(lines))
	}
	want := make([][]int, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			v, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("out line %d: %v", i+1, err)
			}
			want[i] = append(want[i], v)
		}
	}
	return texts, want
}

func eqInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQwen2LlamaCppVectors(t *testing.T) {
	tok := fullQwen2(t)
	texts, want := llamaCppVectors(t)
	if len(texts) != 46 {
		t.Fatalf("got %d vectors, want 46", len(texts))
	}
	pass := 0
	for i, s := range texts {
		got := tok.Encode(s, true)
		if !eqInts(got, want[i]) {
			t.Errorf("vector %d %q:\n got %v\nwant %v", i, s, got, want[i])
			continue
		}
		pass++
		if d := tok.Decode(got); d != strings.ToValidUTF8(s, "\uFFFD") && d != s {
			t.Errorf("vector %d: decode %q, want %q", i, d, s)
		}
	}
	t.Logf("%d/%d llama.cpp vectors pass", pass, len(texts))
}

func TestTextFiles(t *testing.T) {
	tiny, err := Load(tinyJSON)
	if err != nil {
		t.Fatal(err)
	}
	full := fullQwen2(t)
	cases := []struct {
		name  string
		tok   *Tokenizer
		file  string
		n     int
		first []int
	}{
		{"full/wikitext2", full, "wikitext2-test.txt", 299078, nil},
		{"tiny/persuasion", tiny, "austen-persuasion.txt", 139950, []int{47, 388, 84, 300, 290, 1406, 1694, 271}},
		{"tiny/wikitext2", tiny, "wikitext2-test.txt", 401563, []int{271, 284, 4892, 529, 425, 283, 75, 465}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("../../testdata/text", c.file))
			if err != nil {
				t.Fatal(err)
			}
			ids := c.tok.Encode(string(b), false)
			t.Logf("%s: %d ids, first %v", c.file, len(ids), ids[:8])
			if len(ids) != c.n {
				t.Errorf("%d ids, want %d", len(ids), c.n)
			}
			if c.first != nil && !eqInts(ids[:len(c.first)], c.first) {
				t.Errorf("first ids %v, want %v", ids[:len(c.first)], c.first)
			}
			if d := c.tok.Decode(ids); d != string(b) {
				t.Errorf("decode does not round-trip")
			}
		})
	}
}
