package tokenizer

import (
	"os"
	"testing"
)

// BenchmarkEncodeWikiText measures single-goroutine encoding speed of the
// full Qwen2 tokenizer on WikiText-2 (MB/s is reported by -bench). The
// word cache is cleared before every iteration, so the figure includes BPE
// work for each distinct word once per pass.
func BenchmarkEncodeWikiText(b *testing.B) {
	tok := fullQwen2(b)
	data, err := os.ReadFile("../../testdata/text/wikitext2-test.txt")
	if err != nil {
		b.Fatal(err)
	}
	text := string(data)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		tok.model.cache = wordCache{}
		b.StartTimer()
		if n := len(tok.Encode(text, false)); n != 299078 {
			b.Fatalf("%d ids", n)
		}
	}
}

// BenchmarkEncodeWikiTextWarm is BenchmarkEncodeWikiText with the word
// cache kept between iterations (steady state of a long-running process).
func BenchmarkEncodeWikiTextWarm(b *testing.B) {
	tok := fullQwen2(b)
	data, err := os.ReadFile("../../testdata/text/wikitext2-test.txt")
	if err != nil {
		b.Fatal(err)
	}
	text := string(data)
	tok.Encode(text, false)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		tok.Encode(text, false)
	}
}

// BenchmarkLoadQwen2 measures loading the 11 MB full Qwen2 tokenizer.json.
func BenchmarkLoadQwen2(b *testing.B) {
	for b.Loop() {
		if _, err := Load(qwen2JSON); err != nil {
			b.Fatal(err)
		}
	}
}
