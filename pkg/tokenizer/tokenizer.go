// Package tokenizer implements the tokenizers qnnkit needs, without Python:
//
//   - Hugging Face tokenizer.json with a "BPE" model: byte-level BPE as in
//     GPT-2/Qwen2 (Qwen2's pre-tokenizer regex is run by a hand-written
//     scanner with Oniguruma's lookahead semantics) and SentencePiece-style
//     BPE as in Llama (U+2581 word marker, <0xXX> byte fallback), with merges
//     in both encodings ("a b" and ["a","b"]);
//   - mllm's own vocab .mllm + merges.txt pair (LoadMLLM);
//   - Qwen's ChatML chat template.
//
// Encode reproduces Hugging Face's `tokenizer.encode(text,
// add_special_tokens=False)`: added tokens are split out first
// (leftmost-longest, honouring normalized/lstrip/rstrip/single_word), the
// remaining text is normalized (NFC for Qwen), pre-tokenized and BPE'd.
// Decode reproduces `tokenizer.decode(ids)` (no skipping, no clean-up of
// tokenization spaces): ill-formed UTF-8 becomes U+FFFD per maximal
// subpart, as in Rust's from_utf8_lossy.
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

// Tokenizer encodes text to token ids and back.
type Tokenizer struct {
	model *bpeModel

	added       []*AddedToken       // in file order
	addedByID   map[int]*AddedToken // id → token
	addedByText map[string]*AddedToken
	addedText   map[int]string // id → text for Decode/Token: normalized content when normalized
	rawAdded    *addedMatcher  // normalized:false tokens, matched on raw text
	normAdded   *addedMatcher  // normalized:true tokens, matched on normalized text

	norm    normalizer   // nil: identity
	pre     preTokenizer // nil: the whole segment is one word
	rawByte bool         // pieces are raw bytes for a byte-level model
	scan    int          // fast path (Qwen2/Llama 3 scanner + byte-level BPE): max digits per number, 0 = off
	dec     decoder      // nil: tokens joined with " "

	template []int // post-processor single template: -1 stands for the text
	vocabN   int
}

// Load reads a Hugging Face tokenizer.json.
func Load(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	return t, nil
}

type jsonFile struct {
	AddedTokens   []*AddedToken   `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
		Type                    string          `json:"type"`
		Vocab                   json.RawMessage `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
		UnkToken                *string         `json:"unk_token"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		FuseUnk                 bool            `json:"fuse_unk"`
		ByteFallback            bool            `json:"byte_fallback"`
		IgnoreMerges            bool            `json:"ignore_merges"`
		Dropout                 *float64        `json:"dropout"`
	} `json:"model"`
}

// Parse builds a Tokenizer from the bytes of a tokenizer.json.
func Parse(data []byte) (*Tokenizer, error) {
	var f jsonFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse JSON: %w", err)
	}
	if f.Model.Type != "BPE" {
		return nil, fmt.Errorf("model.type %q: only BPE is supported", f.Model.Type)
	}
	vocab, err := parseVocabFast(f.Model.Vocab)
	if err != nil {
		return nil, fmt.Errorf("model.vocab: %w", err)
	}
	if s := f.Model.ContinuingSubwordPrefix; s != nil && *s != "" {
		return nil, fmt.Errorf("model.continuing_subword_prefix %q is not supported", *s)
	}
	if s := f.Model.EndOfWordSuffix; s != nil && *s != "" {
		return nil, fmt.Errorf("model.end_of_word_suffix %q is not supported", *s)
	}
	if d := f.Model.Dropout; d != nil && *d != 0 {
		return nil, fmt.Errorf("model.dropout %v is not supported", *d)
	}
	merges, err := parseMergesFast(f.Model.Merges)
	if err != nil {
		return nil, fmt.Errorf("model.merges: %w", err)
	}
	t := &Tokenizer{}
	if t.norm, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	if t.pre, t.rawByte, t.scan, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	if t.dec, err = parseDecoder(f.Decoder); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	if t.template, err = parsePostProcessor(f.PostProcessor, vocab, f.AddedTokens); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	unk := ""
	if f.Model.UnkToken != nil {
		unk = *f.Model.UnkToken
	}
	m, err := newBPEModel(vocab, merges, t.rawByte, f.Model.ByteFallback, unk, f.Model.FuseUnk, f.Model.IgnoreMerges)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	t.model = m
	if err := t.setAdded(f.AddedTokens); err != nil {
		return nil, err
	}
	return t, nil
}

// newBPEModel indexes vocabulary and merges.
func newBPEModel(vocab map[string]int32, merges [][2]string, byteLevel, byteFallback bool, unk string, fuseUnk, ignoreMerges bool) (*bpeModel, error) {
	m := &bpeModel{
		vocab:        vocab,
		merges:       make(map[uint64]uint64, len(merges)),
		byteLevel:    byteLevel,
		byteFallback: byteFallback,
		unkID:        -1,
		fuseUnk:      fuseUnk,
		ignoreMerges: ignoreMerges,
	}
	maxID := int32(-1)
	for tok, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("vocab %q: negative id %d", tok, id)
		}
		maxID = max(maxID, id)
	}
	m.idToToken = make([]string, maxID+1)
	for tok, id := range vocab {
		// Several tokens with one id (degenerate, but Hugging Face loads
		// it): keep the smallest non-empty one, not the map's random pick.
		if cur := m.idToToken[id]; cur == "" || (tok != "" && tok < cur) {
			m.idToToken[id] = tok
		}
	}
	for b := range 256 {
		m.byteIDs[b] = -1
		if id, ok := vocab[string(byteToRune[b])]; ok {
			m.byteIDs[b] = id
		}
		m.byteFallIDs[b] = -1
		if id, ok := vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteFallIDs[b] = id
		}
	}
	if unk != "" {
		id, ok := vocab[unk]
		if !ok {
			return nil, fmt.Errorf("unk_token %q is not in the vocabulary", unk)
		}
		m.unkID = id
	}
	var buf []byte
	for rank, mg := range merges {
		a, ok1 := vocab[mg[0]]
		b, ok2 := vocab[mg[1]]
		buf = append(append(buf[:0], mg[0]...), mg[1]...)
		c, ok3 := vocab[string(buf)]
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("merge %d (%q, %q): token missing from the vocabulary", rank, mg[0], mg[1])
		}
		key := uint64(uint32(a))<<32 | uint64(uint32(b))
		if _, dup := m.merges[key]; dup {
			continue // Hugging Face keeps the first (lowest) rank
		}
		m.merges[key] = uint64(uint32(rank))<<32 | uint64(uint32(c))
	}
	return m, nil
}

// setAdded registers the added tokens and builds their matchers.
func (t *Tokenizer) setAdded(toks []*AddedToken) error {
	t.added = toks
	t.addedByID = make(map[int]*AddedToken, len(toks))
	t.addedByText = make(map[string]*AddedToken, len(toks))
	t.addedText = make(map[int]string, len(toks))
	t.vocabN = len(t.model.idToToken)
	var raw, nrm []*AddedToken
	for i, a := range toks {
		if a.ID < 0 {
			return fmt.Errorf("added_tokens[%d] %q: negative id", i, a.Content)
		}
		t.addedByID[a.ID] = a
		t.addedByText[a.Content] = a
		t.addedText[a.ID] = a.Content
		if a.Normalized && t.norm != nil {
			// Hugging Face maps the id to the normalized content.
			t.addedText[a.ID] = t.norm.normalize(a.Content)
			t.addedByText[t.addedText[a.ID]] = a
		}
		t.vocabN = max(t.vocabN, a.ID+1)
		if a.Normalized {
			nrm = append(nrm, a)
		} else {
			raw = append(raw, a)
		}
	}
	t.rawAdded = newAddedMatcher(raw, func(a *AddedToken) string { return a.Content })
	t.normAdded = newAddedMatcher(nrm, func(a *AddedToken) string {
		if t.norm == nil {
			return a.Content
		}
		return t.norm.normalize(a.Content)
	})
	return nil
}

// Encode tokenizes text like Hugging Face's `encode(text,
// add_special_tokens=False)`. With allowSpecial, special added tokens
// (such as "<|im_end|>") in the text become their ids; without it they are
// tokenized as ordinary text (HF's split_special_tokens=True). Added tokens
// that are not special are always recognised. Ill-formed UTF-8 in text is
// first replaced by U+FFFD.
func (t *Tokenizer) Encode(text string, allowSpecial bool) []int {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	ids := make([]int, 0, len(text)/4+4)
	var segs [16]segment
	for _, sg := range t.rawAdded.split(text, allowSpecial, segs[:0]) {
		if sg.id >= 0 {
			ids = append(ids, sg.id)
			continue
		}
		s := text[sg.a:sg.b]
		if t.norm != nil {
			s = t.norm.normalize(s)
		}
		var segs2 [16]segment
		for _, sg2 := range t.normAdded.split(s, allowSpecial, segs2[:0]) {
			if sg2.id >= 0 {
				ids = append(ids, sg2.id)
				continue
			}
			ids = t.encodeText(s[sg2.a:sg2.b], sg.a == 0 && sg2.a == 0, ids)
		}
	}
	return ids
}

// encodeText pre-tokenizes and BPEs text that contains no added token.
func (t *Tokenizer) encodeText(s string, first bool, ids []int) []int {
	if s == "" {
		return ids
	}
	m := t.model
	if t.scan > 0 {
		splitScan(s, t.scan, func(a, b int) { ids = m.encodeRawByteLevel(s[a:b], ids) })
		return ids
	}
	ps := []piece{{s: s, first: first}}
	if t.pre != nil {
		ps = t.pre.split(ps)
	}
	for _, p := range ps {
		if t.rawByte {
			ids = m.encodeRawByteLevel(p.s, ids)
		} else {
			ids = m.encodeWord(p.s, ids)
		}
	}
	return ids
}

// AddSpecialTokens applies the tokenizer's post-processor template for a
// single sequence (for example Llama's "<s> $A"), turning Encode's output
// into what `tokenizer(text)["input_ids"]` gives. Byte-level (Qwen)
// tokenizers have no template and ids are returned unchanged.
func (t *Tokenizer) AddSpecialTokens(ids []int) []int {
	if len(t.template) == 0 {
		return ids
	}
	out := make([]int, 0, len(ids)+len(t.template))
	for _, x := range t.template {
		if x < 0 {
			out = append(out, ids...)
		} else {
			out = append(out, x)
		}
	}
	return out
}

// Decode turns ids back into text like Hugging Face's `decode(ids)`:
// special tokens are kept, ids outside the vocabulary are dropped, and
// ill-formed UTF-8 becomes U+FFFD.
func (t *Tokenizer) Decode(ids []int) string { return t.decode(ids, false) }

// DecodeSkipSpecial is Decode with skip_special_tokens=True.
func (t *Tokenizer) DecodeSkipSpecial(ids []int) string { return t.decode(ids, true) }

func (t *Tokenizer) decode(ids []int, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if a, ok := t.addedByID[id]; ok {
			if skipSpecial && a.Special {
				continue
			}
			toks = append(toks, t.addedText[id])
			continue
		}
		if id < 0 || id >= len(t.model.idToToken) || t.model.idToToken[id] == "" {
			continue
		}
		toks = append(toks, t.model.idToToken[id])
	}
	if t.dec == nil {
		return strings.Join(toks, " ")
	}
	return strings.Join(t.dec.decodeChain(toks), "")
}

// TokenID returns the id of a token given in the vocabulary's own alphabet
// (for byte-level models "Ġhello", not " hello"), or of an added token.
func (t *Tokenizer) TokenID(s string) (int, bool) {
	if a, ok := t.addedByText[s]; ok {
		return a.ID, true
	}
	id, ok := t.model.vocab[s]
	return int(id), ok
}

// Token returns the text of id in the vocabulary's alphabet (for added ids
// the token's content, normalized if the token is normalized, as in Hugging
// Face); ok is false for unknown ids.
func (t *Tokenizer) Token(id int) (string, bool) {
	if _, ok := t.addedByID[id]; ok {
		return t.addedText[id], true
	}
	if id < 0 || id >= len(t.model.idToToken) || t.model.idToToken[id] == "" {
		return "", false
	}
	return t.model.idToToken[id], true
}

// VocabSize is one more than the largest id the tokenizer knows, added
// tokens included (Hugging Face's len(tokenizer)). A model's embedding
// table may be larger (Qwen2: 151936).
func (t *Tokenizer) VocabSize() int { return t.vocabN }

// AddedTokens returns the added tokens in file order.
func (t *Tokenizer) AddedTokens() []AddedToken {
	out := make([]AddedToken, len(t.added))
	for i, a := range t.added {
		out[i] = *a
	}
	return out
}

// SpecialIDs returns the ids of the special added tokens, ascending.
func (t *Tokenizer) SpecialIDs() []int {
	var out []int
	for _, a := range t.added {
		if a.Special {
			out = append(out, a.ID)
		}
	}
	sort.Ints(out)
	return out
}

// eosNames are the end-of-sequence tokens recognised by EOSIDs, in order.
var eosNames = []string{"<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<|end_of_text|>", "<|end|>"}

// EOSIDs returns the ids that end generation: for Qwen "<|im_end|>" and
// "<|endoftext|>" (mllm's postprocess stops on both); generally the added
// tokens among "<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>",
// "<|end_of_text|>" and "<|end|>", in that order.
func (t *Tokenizer) EOSIDs() []int {
	var out []int
	for _, n := range eosNames {
		if a, ok := t.addedByText[n]; ok {
			out = append(out, a.ID)
		}
	}
	return out
}

// ---- JSON component parsing ----

type component struct {
	Type string `json:"type"`
	// Sequence members
	Normalizers   []json.RawMessage `json:"normalizers"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Decoders      []json.RawMessage `json:"decoders"`
	Processors    []json.RawMessage `json:"processors"`
	// Split / Replace
	Pattern  *struct{ String, Regex *string } `json:"pattern"`
	Behavior string                           `json:"behavior"`
	Invert   bool                             `json:"invert"`
	Content  json.RawMessage                  `json:"content"`
	// Prepend
	Prepend string `json:"prepend"`
	// ByteLevel
	AddPrefixSpace *bool `json:"add_prefix_space"`
	UseRegex       *bool `json:"use_regex"`
	// Metaspace
	Replacement   string `json:"replacement"`
	PrependScheme string `json:"prepend_scheme"`
	Split         *bool  `json:"split"`
	// Strip
	Left, Right bool
	Start, Stop int
	// Digits
	IndividualDigits bool `json:"individual_digits"`
	// TemplateProcessing
	Single        []map[string]struct{ ID string } `json:"single"`
	SpecialTokens map[string]struct{ IDs []int }   `json:"special_tokens"`
}

func parseComponent(raw json.RawMessage) (*component, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func patternOf(c *component) (string, bool, error) {
	if c.Pattern == nil {
		return "", false, fmt.Errorf("%s: missing pattern", c.Type)
	}
	if c.Pattern.Regex != nil {
		return *c.Pattern.Regex, true, nil
	}
	if c.Pattern.String != nil {
		return *c.Pattern.String, false, nil
	}
	return "", false, fmt.Errorf("%s: empty pattern", c.Type)
}

func contentString(c *component) (string, error) {
	var s string
	if len(c.Content) == 0 {
		return "", nil
	}
	if err := json.Unmarshal(c.Content, &s); err != nil {
		return "", fmt.Errorf("%s: content: %w", c.Type, err)
	}
	return s, nil
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return nil, err
	}
	switch c.Type {
	case "NFC":
		return unicodeNorm{norm.NFC}, nil
	case "NFD":
		return unicodeNorm{norm.NFD}, nil
	case "NFKC":
		return unicodeNorm{norm.NFKC}, nil
	case "NFKD":
		return unicodeNorm{norm.NFKD}, nil
	case "Lowercase":
		return lowercase{}, nil
	case "Prepend":
		return prepend{c.Prepend}, nil
	case "Strip":
		return stripWS{c.Left, c.Right}, nil
	case "Replace":
		pat, s, err := literalReplace(c)
		if err != nil {
			return nil, err
		}
		return replace{pat, s}, nil
	case "Sequence":
		var q normSeq
		for i, r := range c.Normalizers {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, fmt.Errorf("Sequence[%d]: %w", i, err)
			}
			if n != nil {
				q = append(q, n)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("normalizer type %q is not supported", c.Type)
}

// parsePreTokenizer returns the pre-tokenizer, whether pieces end up as raw
// bytes for a byte-level model, and, when it is exactly a Qwen2 or Llama 3
// Split+ByteLevel pair, the scanner's digit limit for the fast path (else 0).
func parsePreTokenizer(raw json.RawMessage) (preTokenizer, bool, int, error) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return nil, false, 0, err
	}
	var steps []*component
	if c.Type == "Sequence" {
		for i, r := range c.Pretokenizers {
			s, err := parseComponent(r)
			if err != nil {
				return nil, false, 0, fmt.Errorf("Sequence[%d]: %w", i, err)
			}
			if s != nil {
				if s.Type == "Sequence" {
					return nil, false, 0, fmt.Errorf("nested Sequence is not supported")
				}
				steps = append(steps, s)
			}
		}
	} else {
		steps = []*component{c}
	}
	var q preSeq
	rawByte := false
	for i, s := range steps {
		if rawByte {
			return nil, false, 0, fmt.Errorf("step %d (%s) after ByteLevel is not supported", i, s.Type)
		}
		switch s.Type {
		case "Split":
			pat, isRe, err := patternOf(s)
			if err != nil {
				return nil, false, 0, err
			}
			m, err := newMatcher(pat, isRe)
			if err != nil {
				return nil, false, 0, err
			}
			b, err := parseBehavior(s.Behavior)
			if err != nil {
				return nil, false, 0, err
			}
			q = append(q, splitPre{m, b, s.Invert})
		case "ByteLevel":
			bl := byteLevelPre{addPrefixSpace: s.AddPrefixSpace != nil && *s.AddPrefixSpace}
			if s.UseRegex == nil || *s.UseRegex {
				re := regexp2.MustCompile(GPT2Pattern, regexp2.None)
				bl.useRegex = &regexMatcher{re}
			}
			q = append(q, bl)
			rawByte = true
		case "Metaspace":
			ms := metaspacePre{repl: s.Replacement, prependScheme: s.PrependScheme, splitOn: s.Split == nil || *s.Split}
			if ms.repl == "" {
				ms.repl = "\u2581"
			}
			if ms.prependScheme == "" {
				ms.prependScheme = "always"
				if s.AddPrefixSpace != nil && !*s.AddPrefixSpace {
					ms.prependScheme = "never"
				}
			}
			q = append(q, ms)
		case "Digits":
			q = append(q, digitsPre{s.IndividualDigits})
		case "WhitespaceSplit":
			q = append(q, wsSplitPre{})
		case "Whitespace":
			m, _ := newMatcher(`\w+|[^\w\s]+`, true)
			q = append(q, splitPre{m, behRemoved, true})
		default:
			return nil, false, 0, fmt.Errorf("pre-tokenizer type %q is not supported", s.Type)
		}
	}
	scan := 0
	if len(q) == 2 && rawByte {
		sp, ok1 := q[0].(splitPre)
		bl := q[1].(byteLevelPre)
		qm, isQ := sp.m.(qwen2Matcher)
		if ok1 && isQ && sp.behavior == behIsolated && !sp.invert && !bl.addPrefixSpace && bl.useRegex == nil {
			scan = qm.digits
		}
	}
	return q, rawByte, scan, nil
}

func parseBehavior(s string) (int, error) {
	switch strings.ToLower(s) {
	case "isolated":
		return behIsolated, nil
	case "removed":
		return behRemoved, nil
	case "mergedwithprevious":
		return behMergedWithPrevious, nil
	case "mergedwithnext":
		return behMergedWithNext, nil
	case "contiguous":
		return behContiguous, nil
	}
	return 0, fmt.Errorf("split behavior %q is not supported", s)
}

func parseDecoder(raw json.RawMessage) (decoder, error) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return byteLevelDec{}, nil
	case "ByteFallback":
		return byteFallbackDec{}, nil
	case "Fuse":
		return fuseDec{}, nil
	case "Replace":
		pat, s, err := literalReplace(c)
		if err != nil {
			return nil, err
		}
		return replaceDec{pat, s}, nil
	case "Strip":
		s, err := contentString(c)
		if err != nil {
			return nil, err
		}
		r, _ := utf8.DecodeRuneInString(s)
		return stripDec{content: r, start: c.Start, stop: c.Stop}, nil
	case "Metaspace":
		repl := c.Replacement
		if repl == "" {
			repl = "\u2581"
		}
		r, _ := utf8.DecodeRuneInString(repl)
		ps := c.PrependScheme
		if ps == "" {
			ps = "always"
			if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
				ps = "never"
			}
		}
		return metaspaceDec{repl: r, prependScheme: ps}, nil
	case "Sequence":
		var q decSeq
		for i, r := range c.Decoders {
			d, err := parseDecoder(r)
			if err != nil {
				return nil, fmt.Errorf("Sequence[%d]: %w", i, err)
			}
			if d != nil {
				q = append(q, d)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("decoder type %q is not supported", c.Type)
}

// parsePostProcessor returns the single-sequence template: token ids, with
// -1 where the text goes; nil means no tokens are added.
func parsePostProcessor(raw json.RawMessage, vocab map[string]int32, added []*AddedToken) ([]int, error) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return nil, nil
	case "TemplateProcessing":
		var out []int
		for i, item := range c.Single {
			if _, ok := item["Sequence"]; ok {
				out = append(out, -1)
				continue
			}
			st, ok := item["SpecialToken"]
			if !ok {
				return nil, fmt.Errorf("single[%d]: want Sequence or SpecialToken", i)
			}
			sp, ok := c.SpecialTokens[st.ID]
			if !ok {
				return nil, fmt.Errorf("single[%d]: special token %q not in special_tokens", i, st.ID)
			}
			out = append(out, sp.IDs...)
		}
		return out, nil
	case "Sequence":
		var out []int
		for i, r := range c.Processors {
			tp, err := parsePostProcessor(r, vocab, added)
			if err != nil {
				return nil, fmt.Errorf("Sequence[%d]: %w", i, err)
			}
			if tp != nil {
				if out != nil {
					return nil, fmt.Errorf("several templates in a Sequence are not supported")
				}
				out = tp
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("post-processor type %q is not supported", c.Type)
}

// literalReplace reads a Replace component's pattern and content; only a
// literal (String) pattern is supported.
func literalReplace(c *component) (pat, content string, err error) {
	pat, isRe, err := patternOf(c)
	if err != nil {
		return "", "", err
	}
	if isRe {
		return "", "", fmt.Errorf("Replace with a regex pattern is not supported")
	}
	content, err = contentString(c)
	return pat, content, err
}
