package model

import "testing"

// BenchmarkForwardPrefill512 measures a 512-token prefill of the bundled
// model (all rows' logits), reporting tokens/s.
func BenchmarkForwardPrefill512(b *testing.B) {
	w := loadTiny(b)
	m := New(w)
	ids := make([]int, 512)
	for i := range ids {
		ids[i] = (i*7919 + 13) % w.Config.VocabSize
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward(ids, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ids)*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
