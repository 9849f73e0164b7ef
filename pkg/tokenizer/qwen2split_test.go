package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

func scannerPieces(s string) []string {
	var out []string
	qwen2Split(s, func(a, b int) { out = append(out, s[a:b]) })
	return out
}

func regexPieces(re *regexp2.Regexp, s string) []string {
	var out []string
	regexMatcher{re}.find(s, func(a, b int) { out = append(out, s[a:b]) })
	return out
}

// TestQwen2ScannerVsRegexp2 compares the hand-written scanner with
// dlclark/regexp2 (a backtracking engine that supports the lookahead) on
// random strings over every character class the pattern distinguishes.
// U+017F is left out: Oniguruma (used by Hugging Face) case-folds it to
// "s" in (?i:'s), regexp2 does not; TestQwen2ScannerTable covers it.
func TestQwen2ScannerVsRegexp2(t *testing.T) {
	for _, c := range []struct {
		pattern string
		digits  int
	}{{Qwen2Pattern, 1}, {Llama3Pattern, 3}} {
		scannerVsRegexp2(t, c.pattern, c.digits)
	}
}

func scannerVsRegexp2(t *testing.T, pattern string, digits int) {
	re := regexp2.MustCompile(pattern, regexp2.None)
	alphabet := []string{"a", "Z", "é", "ß", "中", "ǅ", "0", "9", "٣", "½", "Ⅻ", " ", " ", "\t", "\n", "\r", "\v", "\f",
		"\u0085", "\u00a0", "\u2028", "\u3000", "\u200b", "'", "s", "S", "t", "r", "e", "v", "l", "L", "m", "d", "D",
		".", ",", "!", "-", "<", "|", ">", "😀", "\u0301", "_", "\"", "\xff"}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		var b strings.Builder
		for n := 1 + r.IntN(16); n > 0; n-- {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		s := b.String()
		if !utf8.ValidString(s) {
			continue // regexp2 works on runes; the scanner's invalid-byte handling is tested below
		}
		var got []string
		splitScan(s, digits, func(a, b int) { got = append(got, s[a:b]) })
		want := regexPieces(re, s)
		if !slices.Equal(got, want) {
			t.Fatalf("%q:\n scanner %q\n regexp2 %q", s, got, want)
		}
	}
}

func TestQwen2ScannerTable(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"Hello world", []string{"Hello", " world"}},
		{"x'ſa", []string{"x", "'ſ", "a"}}, // Oniguruma folds ſ to s (checked against HF)
		{"I'LL 'Re", []string{"I", "'LL", " '", "Re"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a   ", []string{"a", "   "}},
		{"a \n\n b", []string{"a", " \n\n", " b"}},
		{"x.\n\ny", []string{"x", ".\n\n", "y"}},
		{"12 345", []string{"1", "2", " ", "3", "4", "5"}},
		{".hello", []string{".hello"}},
		{"\xffab", []string{"\xffab"}},
		{"\xff\xfe", []string{"\xff\xfe"}},
	}
	for _, c := range cases {
		if got := scannerPieces(c.in); !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestValidUTF8Lossy(t *testing.T) {
	cases := []struct{ in, want string }{
		{"abc", "abc"},
		{"\xe2\x82", "\uFFFD"},                 // truncated 3-byte sequence: one maximal subpart
		{"\xe2\x82x", "\uFFFDx"},               //
		{"\xff\xfe", "\uFFFD\uFFFD"},           // two invalid bytes
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogate: ED is a subpart of 1
		{"\xf0\x9f\x98", "\uFFFD"},
		{"\xf0\x9f\x98\x80", "😀"},
		{"\xc0\xaf", "\uFFFD\uFFFD"},
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"a\x80b", "a\uFFFDb"},
	}
	for _, c := range cases {
		if got := ValidUTF8Lossy([]byte(c.in)); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestChatPrompt(t *testing.T) {
	tok := fullQwen2(t)
	p := tok.ChatPrompt("Hi")
	want := "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	if p != want {
		t.Fatalf("ChatPrompt = %q", p)
	}
	ids := tok.Encode(p, true)
	if ids[0] != 151644 || ids[len(ids)-3] != 151644 {
		t.Errorf("special tokens not recognised: %v", ids)
	}
	if got := tok.Decode(ids); got != p {
		t.Errorf("round trip %q", got)
	}
	if eos := tok.EOSIDs(); !slices.Equal(eos, []int{151645, 151643}) {
		t.Errorf("EOSIDs %v", eos)
	}
	if n := len(tok.SpecialIDs()); n != 14 {
		t.Errorf("%d special ids, want 14", n)
	}
	if id, ok := tok.TokenID("Ġworld"); !ok || id != 1879 {
		t.Errorf("TokenID(Ġworld) = %d, %v", id, ok)
	}
	if tok.VocabSize() != 151669 {
		t.Errorf("VocabSize %d", tok.VocabSize())
	}
	m := ChatML([]Message{{"user", "a"}, {"assistant", "b"}}, false)
	if m != "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n" {
		t.Errorf("ChatML = %q", m)
	}
}

// TestConcurrentEncode encodes from several goroutines at once (the word
// cache is shared); run with -race.
func TestConcurrentEncode(t *testing.T) {
	tok, err := Load(tinyJSON)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"Anne Elliot walked to Kellynch.", "Captain Wentworth's letter", "1234 numbers and words 中文"}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s, true)
	}
	tok2, _ := Load(tinyJSON)
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for k := 0; k < 200; k++ {
				i := (g + k) % len(texts)
				if got := tok2.Encode(texts[i], true); !slices.Equal(got, want[i]) {
					done <- &mismatch{texts[i]}
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

type mismatch struct{ text string }

func (m *mismatch) Error() string { return "concurrent encode differs for " + m.text }

func TestByteLevelRoundTrip(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	enc := ByteLevelEncode(string(all))
	if utf8.RuneCountInString(enc) != 256 || !strings.HasPrefix(ByteLevelEncode(" hi\n"), "ĠhiĊ") {
		t.Fatalf("ByteLevelEncode: %q", enc)
	}
	dec, ok := ByteLevelDecode(enc)
	if !ok || dec != string(all) {
		t.Fatalf("ByteLevelDecode round trip failed")
	}
	if _, ok := ByteLevelDecode("a b"); ok {
		t.Error("space is outside the byte-level alphabet but was accepted")
	}
}
