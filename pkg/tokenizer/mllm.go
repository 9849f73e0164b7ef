package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// MLLMVocabMagic is the first int32 of mllm's vocab .mllm file.
const MLLMVocabMagic = 23333

// VocabEntry is one record of a vocab .mllm file.
type VocabEntry struct {
	ID    int
	Token string // raw bytes as stored (byte-level alphabet for Qwen)
	Score float32
}

// ReadMLLMVocab parses mllm's vocab .mllm (toolchain spec §6.6):
//
//	int32 magic = 23333; int32 count;
//	count × { int32 id; int32 byte_len; bytes token; float32 score }
func ReadMLLMVocab(path string) ([]VocabEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mllm vocab: %w", err)
	}
	if len(b) < 8 {
		return nil, fmt.Errorf("mllm vocab %s: %d bytes, too short for a header", path, len(b))
	}
	if m := int32(binary.LittleEndian.Uint32(b)); m != MLLMVocabMagic {
		return nil, fmt.Errorf("mllm vocab %s: magic %d, want %d", path, m, MLLMVocabMagic)
	}
	count := int32(binary.LittleEndian.Uint32(b[4:]))
	if count < 0 || int64(count)*12 > int64(len(b)) {
		return nil, fmt.Errorf("mllm vocab %s: implausible count %d for %d bytes", path, count, len(b))
	}
	out := make([]VocabEntry, count)
	off := 8
	for i := range out {
		if off+8 > len(b) {
			return nil, fmt.Errorf("mllm vocab %s: entry %d at offset %d: truncated", path, i, off)
		}
		id := int32(binary.LittleEndian.Uint32(b[off:]))
		n := int32(binary.LittleEndian.Uint32(b[off+4:]))
		off += 8
		if id < 0 || n < 0 || off+int(n)+4 > len(b) {
			return nil, fmt.Errorf("mllm vocab %s: entry %d at offset %d: id %d, length %d out of range", path, i, off-8, id, n)
		}
		tok := string(b[off : off+int(n)])
		off += int(n)
		score := math.Float32frombits(binary.LittleEndian.Uint32(b[off:]))
		off += 4
		out[i] = VocabEntry{ID: int(id), Token: tok, Score: score}
	}
	if off != len(b) {
		return nil, fmt.Errorf("mllm vocab %s: %d trailing bytes after %d entries", path, len(b)-off, count)
	}
	return out, nil
}

// ReadMerges parses a merges.txt: one merge per line as "a b", or as the
// Python repr "['a', 'b']" that mllm's vocab.py writes for list-form merges
// (toolchain spec §6.6 quirk); the first merge line decides which form the
// whole file uses ("[ ]" is an ordinary merge of "[" and "]"). Empty lines and a "#version" header are
// skipped; the rank is the order of the remaining lines.
func ReadMerges(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	pyRepr := false // decided by the first merge line
	for sc.Scan() {
		line++
		s := strings.TrimSuffix(sc.Text(), "\r")
		if s == "" || line == 1 && strings.HasPrefix(s, "#version") {
			continue
		}
		if len(out) == 0 && strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			_, err := parsePyPair(s)
			pyRepr = err == nil
		}
		if pyRepr {
			p, err := parsePyPair(s)
			if err != nil {
				return nil, fmt.Errorf("merges %s line %d: %w", path, line, err)
			}
			out = append(out, p)
			continue
		}
		a, b, ok := strings.Cut(s, " ")
		if !ok || a == "" || b == "" {
			return nil, fmt.Errorf("merges %s line %d: %q is not \"a b\"", path, line, s)
		}
		out = append(out, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("merges %s line %d: %w", path, line+1, err)
	}
	return out, nil
}

// parsePyPair parses "['a', 'b']" (Python repr of a list of two str).
func parsePyPair(s string) ([2]string, error) {
	var p [2]string
	rest := strings.TrimSpace(s[1 : len(s)-1])
	for k := 0; k < 2; k++ {
		v, n, err := parsePyString(rest)
		if err != nil {
			return p, err
		}
		p[k] = v
		rest = strings.TrimSpace(rest[n:])
		if k == 0 {
			if !strings.HasPrefix(rest, ",") {
				return p, fmt.Errorf("%q: want two strings", s)
			}
			rest = strings.TrimSpace(rest[1:])
		}
	}
	if rest != "" {
		return p, fmt.Errorf("%q: want exactly two strings", s)
	}
	return p, nil
}

// parsePyString parses one Python str literal at the start of s, returning
// its value and byte length.
func parsePyString(s string) (string, int, error) {
	if s == "" || s[0] != '\'' && s[0] != '"' {
		return "", 0, fmt.Errorf("%q: want a quoted string", s)
	}
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\' && i+1 < len(s):
			i++
			switch e := s[i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'x', 'u', 'U':
				n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if i+n >= len(s) {
					return "", 0, fmt.Errorf("%q: short \\%c escape", s, e)
				}
				var v rune
				for _, h := range []byte(s[i+1 : i+1+n]) {
					d := bytes.IndexByte([]byte("0123456789abcdef"), h|0x20)
					if d < 0 {
						return "", 0, fmt.Errorf("%q: bad \\%c escape", s, e)
					}
					v = v<<4 | rune(d)
				}
				b.WriteRune(v)
				i += n
			default:
				return "", 0, fmt.Errorf("%q: unsupported escape \\%c", s, e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("%q: unterminated string", s)
}

// LoadMLLM builds a Qwen2-style byte-level BPE tokenizer from mllm's own
// runtime inputs: a vocab .mllm (tokens in the byte-level alphabet, as in
// tokenizer.json) and its merges.txt.
//
// The files carry no pipeline description, so the Qwen2 one is assumed:
// NFC, the Qwen2 pre-tokenizer, byte-level BPE and decoder. Entries that
// are neither one byte-level character nor the result of a merge are the
// added tokens vocab.py appended after the BPE vocabulary; those of the
// form "<|…|>" are treated as special. (Hugging Face's Qwen2.5 file marks
// <|fim_*|>, <|repo_name|> and <|file_sep|> as not special; that only
// matters for Encode with allowSpecial=false.) When a token text occurs
// twice, the first entry wins for text → id.
func LoadMLLM(vocabPath, mergesPath string) (*Tokenizer, error) {
	ents, err := ReadMLLMVocab(vocabPath)
	if err != nil {
		return nil, err
	}
	merges, err := ReadMerges(mergesPath)
	if err != nil {
		return nil, err
	}
	produced := make(map[string]bool, len(merges))
	for _, m := range merges {
		produced[m[0]+m[1]] = true
	}
	vocab := make(map[string]int32, len(ents))
	var added []*AddedToken
	seenID := make(map[int]bool, len(ents))
	for _, e := range ents {
		if seenID[e.ID] {
			continue
		}
		seenID[e.ID] = true
		single := false
		if rs := []rune(e.Token); len(rs) == 1 && int(rs[0]) < len(runeToByte) && runeToByte[rs[0]] >= 0 {
			single = true
		}
		if single || produced[e.Token] {
			if _, dup := vocab[e.Token]; !dup {
				vocab[e.Token] = int32(e.ID)
			}
			continue
		}
		added = append(added, &AddedToken{
			ID:      e.ID,
			Content: e.Token,
			Special: strings.HasPrefix(e.Token, "<|") && strings.HasSuffix(e.Token, "|>"),
		})
	}
	m, err := newBPEModel(vocab, merges, true, false, "", false, false)
	if err != nil {
		return nil, fmt.Errorf("mllm tokenizer %s + %s: %w", vocabPath, mergesPath, err)
	}
	pre, _ := newMatcher(Qwen2Pattern, true)
	t := &Tokenizer{
		model:   m,
		norm:    unicodeNorm{norm.NFC},
		pre:     preSeq{splitPre{pre, behIsolated, false}, byteLevelPre{}},
		rawByte: true,
		scan:    1,
		dec:     byteLevelDec{},
	}
	if err := t.setAdded(added); err != nil {
		return nil, fmt.Errorf("mllm tokenizer %s: %w", vocabPath, err)
	}
	return t, nil
}
