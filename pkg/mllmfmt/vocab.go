package mllmfmt

// The vocab .mllm format (spec §6.6; mllm v1: tools/convertor/vocab.py,
// runtime reader mllm/tokenizers/Tokenizer.cpp):
//
//	int32 magic = 23333
//	int32 count
//	count × { int32 id; int32 byte_len; token bytes; float32 score }
//
// all little-endian. The builders below reproduce vocab.py's choices
// byte for byte, quirks included (spec Q17), unless VocabOptions asks for
// the fixes.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// VocabMagic is the first int32 of a vocab .mllm file.
const VocabMagic = 23333

// VocabEntry is one token record.
type VocabEntry struct {
	ID    int32
	Token []byte
	Score float32
}

// Vocab is what a vocab conversion produces: the records of the .mllm
// file and, for BPE tokenizer.json inputs, the lines of <out>.merges.txt
// (without their "\n").
type Vocab struct {
	Entries []VocabEntry
	Merges  []string
}

// VocabOptions selects fixes for vocab.py's quirks (spec Q17). The zero
// value reproduces vocab.py byte for byte.
type VocabOptions struct {
	// DedupAddedTokens skips added_tokens whose content is already in the
	// vocab with the same id (vocab.py appends every added token).
	DedupAddedTokens bool
	// PlainMerges writes list-form merges ["a","b"] as "a b" (vocab.py
	// writes the Python repr "['a', 'b']").
	PlainMerges bool
}

// WriteVocab writes a vocab .mllm image.
func WriteVocab(w io.Writer, entries []VocabEntry) error {
	if len(entries) > math.MaxInt32 {
		return fmt.Errorf("vocab of %d entries exceeds int32", len(entries))
	}
	le := binary.LittleEndian
	buf := make([]byte, 0, 64<<10)
	buf = le.AppendUint32(buf, VocabMagic)
	buf = le.AppendUint32(buf, uint32(len(entries)))
	for i, e := range entries {
		if len(e.Token) > math.MaxInt32 {
			return fmt.Errorf("vocab entry %d: token of %d bytes", i, len(e.Token))
		}
		buf = le.AppendUint32(buf, uint32(e.ID))
		buf = le.AppendUint32(buf, uint32(len(e.Token)))
		buf = append(buf, e.Token...)
		buf = le.AppendUint32(buf, math.Float32bits(e.Score))
		if len(buf) >= 60<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}

// ParseVocab reads a vocab .mllm image. Every record must lie inside the
// data and nothing may follow the last one.
func ParseVocab(data []byte) ([]VocabEntry, error) {
	le := binary.LittleEndian
	if len(data) < 8 {
		return nil, fmt.Errorf("vocab file is %d bytes, shorter than the 8-byte header", len(data))
	}
	if m := int32(le.Uint32(data)); m != VocabMagic {
		return nil, fmt.Errorf("offset 0: magic %d, want %d (not an mllm vocab file)", m, VocabMagic)
	}
	n := int32(le.Uint32(data[4:]))
	if n < 0 || int64(n) > int64(len(data)-8)/12 {
		return nil, fmt.Errorf("offset 4: count %d does not fit %d bytes of records", n, len(data)-8)
	}
	out := make([]VocabEntry, 0, n)
	p := 8
	for i := int32(0); i < n; i++ {
		if len(data)-p < 8 {
			return nil, fmt.Errorf("offset %d: record %d truncated", p, i)
		}
		id := int32(le.Uint32(data[p:]))
		bl := int32(le.Uint32(data[p+4:]))
		if bl < 0 || int64(bl) > int64(len(data)-p-12) {
			return nil, fmt.Errorf("offset %d: record %d token length %d exceeds the file", p, i, bl)
		}
		q := p + 8 + int(bl)
		out = append(out, VocabEntry{ID: id, Token: data[p+8 : q], Score: math.Float32frombits(le.Uint32(data[q:]))})
		p = q + 4
	}
	if p != len(data) {
		return nil, fmt.Errorf("offset %d: %d trailing bytes after %d records", p, len(data)-p, n)
	}
	return out, nil
}

// ReadVocab reads and parses a vocab .mllm file.
func ReadVocab(path string) ([]VocabEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	es, err := ParseVocab(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return es, nil
}

// ValidateVocab checks what mllm's runtime needs: ids in [0, count), as it
// indexes a table of count tokens by id.
func ValidateVocab(entries []VocabEntry) error {
	for i, e := range entries {
		if e.ID < 0 || int(e.ID) >= len(entries) {
			return fmt.Errorf("vocab record %d (%q): id %d outside [0, %d)", i, e.Token, e.ID, len(entries))
		}
	}
	return nil
}

// WriteMerges writes merges.txt lines, each followed by "\n".
func WriteMerges(w io.Writer, merges []string) error {
	var b bytes.Buffer
	for _, m := range merges {
		b.WriteString(m)
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}

// VocabFromTokenizerJSON converts a Hugging Face tokenizer.json as
// vocab.py does (its non-SentencePiece branch, for any --type):
// BPE models give [token, id] records in vocab file order followed by
// every added token, with score = float32(id); Unigram models give
// [piece, score] records with running ids and no added tokens. BPE
// merges become the merges.txt lines.
func VocabFromTokenizerJSON(data []byte, opt VocabOptions) (*Vocab, error) {
	var top struct {
		Model       json.RawMessage `json:"model"`
		AddedTokens []struct {
			ID      json.Number `json:"id"`
			Content string      `json:"content"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if len(top.Model) == 0 || string(top.Model) == "null" {
		return nil, fmt.Errorf("tokenizer.json: no \"model\" object")
	}
	var model struct {
		Type   string            `json:"type"`
		Vocab  json.RawMessage   `json:"vocab"`
		Merges []json.RawMessage `json:"merges"`
	}
	if err := json.Unmarshal(top.Model, &model); err != nil {
		return nil, fmt.Errorf("tokenizer.json model: %w", err)
	}
	if model.Type != "BPE" && model.Type != "Unigram" {
		return nil, fmt.Errorf("tokenizer.json model type %q: only BPE and Unigram are supported", model.Type)
	}
	v := &Vocab{}
	if model.Type == "BPE" {
		for i, m := range model.Merges {
			s, err := mergeLine(m, opt.PlainMerges)
			if err != nil {
				return nil, fmt.Errorf("tokenizer.json merges[%d]: %w", i, err)
			}
			v.Merges = append(v.Merges, s)
		}
	}
	type pair struct {
		tok string
		val float64
	}
	var pairs []pair
	vocab := bytes.TrimSpace(model.Vocab)
	switch {
	case len(vocab) > 0 && vocab[0] == '{':
		keys, vals, err := orderedNumbers(vocab)
		if err != nil {
			return nil, fmt.Errorf("tokenizer.json model.vocab: %w", err)
		}
		have := map[string]float64{}
		for i, k := range keys {
			pairs = append(pairs, pair{k, vals[i]})
			have[k] = vals[i]
		}
		for i, a := range top.AddedTokens {
			id, err := a.ID.Float64()
			if err != nil {
				return nil, fmt.Errorf("tokenizer.json added_tokens[%d] id %q: %w", i, a.ID, err)
			}
			if opt.DedupAddedTokens {
				if old, ok := have[a.Content]; ok && old == id {
					continue
				}
			}
			pairs = append(pairs, pair{a.Content, id})
		}
	case len(vocab) > 0 && vocab[0] == '[':
		var list [][2]any
		dec := json.NewDecoder(bytes.NewReader(vocab))
		dec.UseNumber()
		if err := dec.Decode(&list); err != nil {
			return nil, fmt.Errorf("tokenizer.json model.vocab: %w", err)
		}
		for i, it := range list {
			s, ok1 := it[0].(string)
			n, ok2 := it[1].(json.Number)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("tokenizer.json model.vocab[%d]: want [string, number]", i)
			}
			f, err := n.Float64()
			if err != nil {
				return nil, fmt.Errorf("tokenizer.json model.vocab[%d]: %w", i, err)
			}
			pairs = append(pairs, pair{s, f})
		}
	default:
		return nil, fmt.Errorf("tokenizer.json model.vocab is missing or not an object/list")
	}
	if len(pairs) > math.MaxInt32 {
		return nil, fmt.Errorf("tokenizer.json: %d tokens", len(pairs))
	}
	for i, p := range pairs {
		id := int64(i)
		if model.Type == "BPE" {
			if math.IsNaN(p.val) || p.val < math.MinInt32 || p.val > math.MaxInt32 {
				return nil, fmt.Errorf("tokenizer.json token %q: id %v outside int32", p.tok, p.val)
			}
			id = int64(p.val) // Python int(): truncation
		}
		v.Entries = append(v.Entries, VocabEntry{ID: int32(id), Token: []byte(p.tok), Score: float32(p.val)})
	}
	return v, nil
}

// VocabFromVocabJSON converts a GPT-2 style vocab.json (token → id) as
// vocab.py --type BPE does: file order, id = value, score = float32(id).
func VocabFromVocabJSON(data []byte) (*Vocab, error) {
	keys, vals, err := orderedNumbers(bytes.TrimSpace(data))
	if err != nil {
		return nil, fmt.Errorf("vocab.json: %w", err)
	}
	v := &Vocab{}
	for i, k := range keys {
		if vals[i] < math.MinInt32 || vals[i] > math.MaxInt32 {
			return nil, fmt.Errorf("vocab.json token %q: id %v outside int32", k, vals[i])
		}
		v.Entries = append(v.Entries, VocabEntry{ID: int32(int64(vals[i])), Token: []byte(k), Score: float32(vals[i])})
	}
	return v, nil
}

// orderedNumbers decodes a JSON object of numbers keeping the file order.
// A repeated key keeps its first position and its last value, as Python's
// json.load does.
func orderedNumbers(b []byte) ([]string, []float64, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("not a JSON object")
	}
	var keys []string
	var vals []float64
	pos := map[string]int{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, ok := kt.(string)
		if !ok {
			return nil, nil, fmt.Errorf("offset %d: object key %v", dec.InputOffset(), kt)
		}
		vt, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("key %q: %w", k, err)
		}
		n, ok := vt.(json.Number)
		if !ok {
			return nil, nil, fmt.Errorf("key %q: value %v is not a number", k, vt)
		}
		f, err := n.Float64()
		if err != nil {
			return nil, nil, fmt.Errorf("key %q: %w", k, err)
		}
		if i, dup := pos[k]; dup {
			vals[i] = f
			continue
		}
		pos[k] = len(keys)
		keys = append(keys, k)
		vals = append(vals, f)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	return keys, vals, nil
}

// mergeLine formats one merges entry as vocab.py's f"{merge}": a string
// as is, a list as its Python repr (or "a b" with plain).
func mergeLine(m json.RawMessage, plain bool) (string, error) {
	var s string
	if err := json.Unmarshal(m, &s); err == nil {
		return s, nil
	}
	var parts []string
	if err := json.Unmarshal(m, &parts); err != nil {
		return "", fmt.Errorf("merge %s is neither a string nor a list of strings", m)
	}
	if plain {
		return strings.Join(parts, " "), nil
	}
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = PyRepr(p)
	}
	return "[" + strings.Join(q, ", ") + "]", nil
}

// PyRepr is Python 3's repr() of a str.
func PyRepr(s string) string {
	quote := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7f:
			b.WriteRune(r)
		case unicode.IsPrint(r) && r != utf8.RuneError:
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// SentencePiece piece types (sentencepiece_model.proto).
const (
	spNormal  = 1
	spUnknown = 2
	spControl = 3
	spByte    = 6
)

// SentencePiece is one piece of a SentencePiece model.
type SentencePiece struct {
	Piece string
	Score float32
	Type  int32
}

// ParseSentencePiece reads the pieces of a SentencePiece ModelProto
// (tokenizer.model): field 1 = repeated SentencePiece{1: piece, 2: score,
// 3: type}. Other fields are skipped.
func ParseSentencePiece(data []byte) ([]SentencePiece, error) {
	var out []SentencePiece
	err := protoFields(data, 0, func(num int, wire int, v uint64, b []byte, off int) error {
		if num != 1 {
			return nil
		}
		if wire != 2 {
			return fmt.Errorf("offset %d: pieces field has wire type %d", off, wire)
		}
		p := SentencePiece{Type: spNormal}
		err := protoFields(b, off, func(num int, wire int, v uint64, s []byte, off int) error {
			switch {
			case num == 1 && wire == 2:
				if !utf8.Valid(s) {
					return fmt.Errorf("offset %d: piece is not valid UTF-8", off)
				}
				p.Piece = string(s)
			case num == 2 && wire == 5:
				p.Score = math.Float32frombits(uint32(v))
			case num == 3 && wire == 0:
				p.Type = int32(v)
			case num <= 3:
				return fmt.Errorf("offset %d: field %d has wire type %d", off, num, wire)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("piece %d: %w", len(out), err)
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tokenizer.model: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("tokenizer.model: no pieces (not a SentencePiece model?)")
	}
	return out, nil
}

// protoFields walks the fields of a protobuf message. base is the
// message's offset in the file, for error messages.
func protoFields(b []byte, base int, f func(num, wire int, v uint64, data []byte, off int) error) error {
	for p := 0; p < len(b); {
		off := base + p
		key, n := binary.Uvarint(b[p:])
		if n <= 0 {
			return fmt.Errorf("offset %d: bad field key", off)
		}
		p += n
		num, wire := int(key>>3), int(key&7)
		if num == 0 {
			return fmt.Errorf("offset %d: field number 0", off)
		}
		var v uint64
		var data []byte
		switch wire {
		case 0:
			v, n = binary.Uvarint(b[p:])
			if n <= 0 {
				return fmt.Errorf("offset %d: bad varint", base+p)
			}
			p += n
		case 1:
			if len(b)-p < 8 {
				return fmt.Errorf("offset %d: truncated fixed64", base+p)
			}
			v = binary.LittleEndian.Uint64(b[p:])
			p += 8
		case 5:
			if len(b)-p < 4 {
				return fmt.Errorf("offset %d: truncated fixed32", base+p)
			}
			v = uint64(binary.LittleEndian.Uint32(b[p:]))
			p += 4
		case 2:
			l, n := binary.Uvarint(b[p:])
			if n <= 0 || l > uint64(len(b)-p-n) {
				return fmt.Errorf("offset %d: length-delimited field of %d bytes exceeds the message", base+p, l)
			}
			p += n
			data = b[p : p+int(l)]
			off = base + p
			p += int(l)
		default:
			return fmt.Errorf("offset %d: unsupported wire type %d", off, wire)
		}
		if err := f(num, wire, v, data, off); err != nil {
			return err
		}
	}
	return nil
}

// VocabFromSentencePiece converts a tokenizer.model as vocab.py --type BPE
// does: ids 0..n-1; unknown → " \u2047 ", control → empty, byte pieces
// <0xAB> → the byte, others with U+2581 replaced by a space; score as is.
func VocabFromSentencePiece(data []byte) (*Vocab, error) {
	ps, err := ParseSentencePiece(data)
	if err != nil {
		return nil, err
	}
	v := &Vocab{}
	for i, p := range ps {
		var tok []byte
		switch p.Type {
		case spUnknown:
			tok = []byte(" \u2047 ")
		case spControl:
			tok = []byte{}
		case spByte:
			if utf8.RuneCountInString(p.Piece) != 6 || !strings.HasPrefix(p.Piece, "<0x") || !strings.HasSuffix(p.Piece, ">") {
				return nil, fmt.Errorf("tokenizer.model piece %d: invalid byte token %q", i, p.Piece)
			}
			x, err := strconv.ParseUint(p.Piece[3:5], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("tokenizer.model piece %d: invalid byte token %q", i, p.Piece)
			}
			tok = []byte{byte(x)}
		default:
			tok = []byte(strings.ReplaceAll(p.Piece, "\u2581", " "))
		}
		v.Entries = append(v.Entries, VocabEntry{ID: int32(i), Token: tok, Score: p.Score})
	}
	return v, nil
}
