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

// BenchmarkDecodeStep measures one-token decoding steps after a 128-token
// prefill (the KV cache is rewound so every step sees 128..191 cached
// positions).
func BenchmarkDecodeStep(b *testing.B) {
	w := loadTiny(b)
	m := New(w)
	ids := make([]int, 192)
	for i := range ids {
		ids[i] = (i*7919 + 13) % w.Config.VocabSize
	}
	cache := NewKVCache(w.Config, len(ids))
	if _, err := m.Forward(ids[:128], cache); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := 128 + i%64
		if p == 128 {
			cache.Truncate(128)
		}
		if _, err := m.Forward(ids[p:p+1], cache); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
