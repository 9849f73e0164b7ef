package tokenizer

import (
	"testing"
	"unicode/utf8"
)

// FuzzParseTokenizer: arbitrary bytes give an error or a tokenizer that
// encodes and decodes a fixed text without panicking, with every id known
// to the tokenizer. The seed corpus (small byte-level and SentencePiece-BPE
// files) is in testdata/fuzz/FuzzParseTokenizer.
func FuzzParseTokenizer(f *testing.F) {
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`))
	const text = "ab ba, Hello 12345 <|im_start|>\n\té日本"
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := Parse(data)
		if err != nil {
			return
		}
		for _, special := range []bool{false, true} {
			ids := tk.Encode(text, special)
			for _, id := range ids {
				if _, ok := tk.Token(id); !ok {
					t.Fatalf("Encode gave id %d that Token does not know", id)
				}
			}
			s := tk.Decode(ids)
			if !utf8.ValidString(s) {
				t.Fatalf("Decode gave invalid UTF-8 %q", s)
			}
			_ = tk.DecodeSkipSpecial(tk.AddSpecialTokens(ids))
		}
		_ = tk.EOSIDs()
	})
}
