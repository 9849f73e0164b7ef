package tokenizer

import (
	"os"
	"testing"
	"time"
)

// reportCPU adds "cpu-MB/s" (bytes per second of process CPU time, which a
// shared machine inflates far less than wall time; run with -cpu 1) and
// "cpu-ms/op".
func reportCPU(b *testing.B, total time.Duration, bytes int64) {
	if _, ok := processCPU(); !ok || b.N == 0 {
		return
	}
	per := float64(total) / float64(b.N)
	if bytes > 0 {
		b.ReportMetric(float64(bytes)/per*1e9/1e6, "cpu-MB/s")
	}
	b.ReportMetric(per/1e6, "cpu-ms/op")
}

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
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		tok.model.cache = wordCache{}
		c0, _ := processCPU()
		b.StartTimer()
		if n := len(tok.Encode(text, false)); n != 299078 {
			b.Fatalf("%d ids", n)
		}
		c1, _ := processCPU()
		cpu += c1 - c0
	}
	reportCPU(b, cpu, int64(len(text)))
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
	c0, _ := processCPU()
	for b.Loop() {
		tok.Encode(text, false)
	}
	c1, _ := processCPU()
	reportCPU(b, c1-c0, int64(len(text)))
}

// BenchmarkLoadQwen2 measures loading the 11 MB full Qwen2 tokenizer.json.
func BenchmarkLoadQwen2(b *testing.B) {
	c0, _ := processCPU()
	for b.Loop() {
		if _, err := Load(qwen2JSON); err != nil {
			b.Fatal(err)
		}
	}
	c1, _ := processCPU()
	reportCPU(b, c1-c0, 0)
}
