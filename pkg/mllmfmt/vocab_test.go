package mllmfmt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "", "\n", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vocabBytes(t *testing.T, v *Vocab) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteVocab(&b, v.Entries); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestTV11 checks spec §7 TV11 byte for byte.
func TestTV11(t *testing.T) {
	eot := hex.EncodeToString([]byte("<|endoftext|>"))
	cases := []struct {
		name, json string
		opt        VocabOptions
		want       string
		merges     []string
	}{
		{"bpe", `{"added_tokens":[{"id":3,"content":"<|endoftext|>"}],"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`, VocabOptions{},
			"255b0000 04000000 | 00000000 01000000 61 00000000 | 01000000 01000000 62 0000803f | 02000000 02000000 6162 00000040 | 03000000 0d000000" + eot + "00004040",
			[]string{"a b"}},
		{"bpe duplicate + list merges", `{"added_tokens":[{"id":2,"content":"ab"}],"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]}}`, VocabOptions{},
			"255b0000 04000000 | 00000000 01000000 61 00000000 | 01000000 01000000 62 0000803f | 02000000 02000000 6162 00000040 | 02000000 02000000 6162 00000040",
			[]string{"['a', 'b']"}},
		{"bpe fixed (Q17)", `{"added_tokens":[{"id":2,"content":"ab"}],"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]}}`, VocabOptions{DedupAddedTokens: true, PlainMerges: true},
			"255b0000 03000000 | 00000000 01000000 61 00000000 | 01000000 01000000 62 0000803f | 02000000 02000000 6162 00000040",
			[]string{"a b"}},
		{"unigram", `{"model":{"type":"Unigram","vocab":[["<unk>",0.0],["▁a",-1.5]]}}`, VocabOptions{},
			"255b0000 02000000 | 00000000 05000000 3c756e6b3e 00000000 | 01000000 04000000 e29681 61 0000c0bf", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := VocabFromTokenizerJSON([]byte(c.json), c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := vocabBytes(t, v), unhex(t, c.want); !bytes.Equal(got, want) {
				t.Errorf("vocab\n got % x\nwant % x", got, want)
			}
			if !reflect.DeepEqual(v.Merges, c.merges) {
				t.Errorf("merges %q, want %q", v.Merges, c.merges)
			}
		})
	}
}

func TestPyRepr(t *testing.T) {
	cases := map[string]string{
		"a": "'a'", "Ġ": "'Ġ'", "it's": `"it's"`, `a'"b`: `'a\'"b'`, "x\ny": `'x\ny'`,
		`\`: `'\\'`, "\x00": `'\x00'`, "\u00a0": `'\xa0'`, "\u200b": `'\u200b'`, "é中": "'é中'",
	}
	for in, want := range cases {
		if got := PyRepr(in); got != want {
			t.Errorf("PyRepr(%q) = %s, want %s", in, got, want)
		}
	}
}

// qwenInput derives the Qwen2.5 tokenizer.json that mllm's golden files
// were made from: the Qwen2 tokenizer with "a b" string merges and only the
// first 22 added tokens.
func qwenInput(t *testing.T) []byte {
	raw, err := os.ReadFile("../../testdata/tokenizer/qwen2-tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	var model map[string]json.RawMessage
	if err := json.Unmarshal(top["model"], &model); err != nil {
		t.Fatal(err)
	}
	var merges [][]string
	if err := json.Unmarshal(model["merges"], &merges); err != nil {
		t.Fatal(err)
	}
	flat := make([]string, len(merges))
	for i, m := range merges {
		flat[i] = strings.Join(m, " ")
	}
	if model["merges"], err = json.Marshal(flat); err != nil {
		t.Fatal(err)
	}
	var added []json.RawMessage
	if err := json.Unmarshal(top["added_tokens"], &added); err != nil {
		t.Fatal(err)
	}
	if top["added_tokens"], err = json.Marshal(added[:22]); err != nil {
		t.Fatal(err)
	}
	if top["model"], err = json.Marshal(model); err != nil { // vocab stays raw: file order kept
		t.Fatal(err)
	}
	out, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestQwen25Golden reproduces the vocab and merges files that mllm ships
// for Qwen2.5 (made by vocab.py), compared by SHA-256.
func TestQwen25Golden(t *testing.T) {
	v, err := VocabFromTokenizerJSON(qwenInput(t), VocabOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vb := vocabBytes(t, v)
	var mb bytes.Buffer
	if err := WriteMerges(&mb, v.Merges); err != nil {
		t.Fatal(err)
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	if got, want := sum(vb), "c4b72371a92ecd3bd52c7c2c23a4feb30e432af4008c742565507504cdc4333f"; got != want {
		t.Errorf("qwen2.5_vocab.mllm: %d bytes, sha256 %s, want 3189765 bytes %s", len(vb), got, want)
	}
	if got, want := sum(mb.Bytes()), "599bab54075088774b1733fde865d5bd747cbcc7a547c5bc12610e874e26f5e3"; got != want {
		t.Errorf("qwen2.5_merges.txt: %d bytes, sha256 %s, want 1671839 bytes %s", mb.Len(), got, want)
	}
	es, err := ParseVocab(vb)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 151643+22 || string(es[151643].Token) != "<|endoftext|>" || es[151643].ID != 151643 {
		t.Errorf("parsed %d entries, [151643] = %q/%d", len(es), es[151643].Token, es[151643].ID)
	}
	if err := ValidateVocab(es); err != nil {
		t.Error(err)
	}
}

func TestVocabJSON(t *testing.T) {
	v, err := VocabFromVocabJSON([]byte(`{"b": 1, "a": 0, "b": 5}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []VocabEntry{{5, []byte("b"), 5}, {0, []byte("a"), 0}}
	if !reflect.DeepEqual(v.Entries, want) {
		t.Errorf("entries %+v, want %+v", v.Entries, want)
	}
}

// spModel encodes a SentencePiece ModelProto with the given pieces.
func spModel(pieces []SentencePiece) []byte {
	var m []byte
	for _, p := range pieces {
		var s []byte
		s = append(s, 0x0a)
		s = binary.AppendUvarint(s, uint64(len(p.Piece)))
		s = append(s, p.Piece...)
		s = append(s, 0x15)
		s = binary.LittleEndian.AppendUint32(s, math.Float32bits(p.Score))
		if p.Type != spNormal {
			s = append(s, 0x18)
			s = binary.AppendUvarint(s, uint64(p.Type))
		}
		m = append(m, 0x0a)
		m = binary.AppendUvarint(m, uint64(len(s)))
		m = append(m, s...)
	}
	return m
}

func TestSentencePiece(t *testing.T) {
	pieces := []SentencePiece{
		{"<unk>", 0, spUnknown}, {"<s>", 0, spControl}, {"<0x0A>", 0, spByte},
		{"▁the", -1.25, spNormal}, {"▁▁", -2, 4},
	}
	// plus an unrelated trainer_spec field (2) to skip
	model := append(spModel(pieces), 0x12, 0x02, 0x08, 0x01)
	v, err := VocabFromSentencePiece(model)
	if err != nil {
		t.Fatal(err)
	}
	want := []VocabEntry{
		{0, []byte(" \u2047 "), 0}, {1, []byte{}, 0}, {2, []byte{0x0a}, 0},
		{3, []byte(" the"), -1.25}, {4, []byte("  "), -2},
	}
	if !reflect.DeepEqual(v.Entries, want) {
		t.Errorf("entries %+v, want %+v", v.Entries, want)
	}
	bad := spModel([]SentencePiece{{"<0x0A0>", 0, spByte}})
	if _, err := VocabFromSentencePiece(bad); err == nil || !strings.Contains(err.Error(), "invalid byte token") {
		t.Errorf("bad byte piece: err = %v", err)
	}
	if _, err := VocabFromSentencePiece([]byte{0x0a, 0x7f}); err == nil {
		t.Error("truncated model: no error")
	}
}

func TestParseVocabErrors(t *testing.T) {
	good := unhex(t, "255b0000 01000000 00000000 01000000 61 00000000")
	if _, err := ParseVocab(good); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"short", good[:6], "shorter"},
		{"magic", append([]byte{1}, good[1:]...), "magic"},
		{"truncated", good[:len(good)-1], "exceeds"},
		{"trailing", append(append([]byte{}, good...), 0), "trailing"},
		{"count", unhex(t, "255b0000 ffffff7f"), "count"},
	}
	for _, c := range cases {
		if _, err := ParseVocab(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	if err := ValidateVocab([]VocabEntry{{ID: 1}}); err == nil {
		t.Error("id out of range: no error")
	}
}
