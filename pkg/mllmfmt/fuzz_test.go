package mllmfmt

import (
	"bytes"
	"testing"
)

func fuzzSeedMllm(f *testing.F) []byte {
	var b seekBuffer
	w, err := NewWriter(&b, []string{"a_weight", "s"})
	if err != nil {
		f.Fatal(err)
	}
	if err := w.WriteTensor("a_weight", I8, []byte{1, 2, 3}); err != nil {
		f.Fatal(err)
	}
	if err := w.WriteTensor("s", F32, []byte{0, 0, 0x80, 0x3f}); err != nil {
		f.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	return b.b
}

// FuzzParse: arbitrary bytes give an error or entries inside the image.
func FuzzParse(f *testing.F) {
	good := fuzzSeedMllm(f)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Fuzz(func(t *testing.T, data []byte) {
		mf, err := Parse(data)
		if err != nil {
			return
		}
		for _, e := range mf.Entries {
			if b := mf.Data(e); uint64(len(b)) != e.Size {
				t.Fatalf("entry %q: %d bytes, want %d", e.Name, len(b), e.Size)
			}
		}
		mf.Validate()
	})
}

// FuzzParseVocab: arbitrary bytes give an error or records that write
// back to the same bytes.
func FuzzParseVocab(f *testing.F) {
	f.Add([]byte{0x25, 0x5b, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, '<', 'u', 'n', 'k', '>', 0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0xe2, 0x96, 0x81, 'a', 0, 0, 0xc0, 0xbf})
	f.Add([]byte{0x25, 0x5b, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := ParseVocab(data)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteVocab(&b, es); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), data) {
			t.Fatalf("round trip changed the bytes")
		}
		ValidateVocab(es)
	})
}

// FuzzSentencePiece: the hand-written protobuf reader returns an error or
// pieces, never panics.
func FuzzSentencePiece(f *testing.F) {
	f.Add(spModel([]SentencePiece{{"<unk>", 0, spUnknown}, {"<0x0A>", 0, spByte}, {"▁a", -1.5, spNormal}}))
	f.Add(append(spModel([]SentencePiece{{"<s>", 0, spControl}}), 0x12, 0x02, 0x08, 0x01))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := VocabFromSentencePiece(data)
		if err != nil {
			return
		}
		for i, e := range v.Entries {
			if int(e.ID) != i {
				t.Fatalf("entry %d has id %d", i, e.ID)
			}
		}
	})
}
