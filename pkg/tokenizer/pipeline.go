package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

// ---- normalizers ----

// normalizer is one step of a tokenizer.json "normalizer".
type normalizer interface {
	normalize(s string) string
}

type unicodeNorm struct{ f norm.Form }

func (n unicodeNorm) normalize(s string) string { return n.f.String(s) }

type lowercase struct{}

func (lowercase) normalize(s string) string { return strings.ToLower(s) }

// prepend adds its text to every non-empty string (Hugging Face "Prepend").
type prepend struct{ s string }

func (p prepend) normalize(s string) string {
	if s == "" {
		return s
	}
	return p.s + s
}

type replace struct{ old, new string }

func (r replace) normalize(s string) string { return strings.ReplaceAll(s, r.old, r.new) }

type stripWS struct{ left, right bool }

func (st stripWS) normalize(s string) string {
	if st.left {
		s = strings.TrimLeftFunc(s, isS)
	}
	if st.right {
		s = strings.TrimRightFunc(s, isS)
	}
	return s
}

type normSeq []normalizer

func (q normSeq) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}

// ---- pre-tokenizers ----

// piece is a pre-token under construction; first marks the piece that
// starts at offset 0 of the original input (Metaspace's prepend_scheme
// "first").
type piece struct {
	s     string
	first bool
}

type preTokenizer interface {
	split(ps []piece) []piece
}

// matcher finds the byte ranges a Split pattern matches.
type matcher interface {
	find(s string, emit func(start, end int))
}

// qwen2Matcher runs the hand-written scanner: Qwen2Pattern (digits 1) or
// Llama3Pattern (digits 3).
type qwen2Matcher struct{ digits int }

func (m qwen2Matcher) find(s string, emit func(int, int)) { splitScan(s, m.digits, emit) }

type literalMatcher struct{ lit string }

func (m literalMatcher) find(s string, emit func(int, int)) {
	if m.lit == "" {
		return
	}
	off := 0
	for {
		k := strings.Index(s[off:], m.lit)
		if k < 0 {
			return
		}
		emit(off+k, off+k+len(m.lit))
		off += k + len(m.lit)
	}
}

// regexMatcher runs an arbitrary (Oniguruma-style) pattern with regexp2.
// It is used only for patterns other than Qwen2Pattern.
type regexMatcher struct{ re *regexp2.Regexp }

func (m regexMatcher) find(s string, emit func(int, int)) {
	rs := []rune(s)
	// byte offset of every rune index
	offs := make([]int, len(rs)+1)
	o := 0
	for i, r := range rs {
		offs[i] = o
		o += utf8.RuneLen(r)
	}
	offs[len(rs)] = o
	mt, err := m.re.FindRunesMatch(rs)
	for err == nil && mt != nil {
		if mt.Length > 0 {
			emit(offs[mt.Index], offs[mt.Index+mt.Length])
		}
		mt, err = m.re.FindNextMatch(mt)
	}
}

func newMatcher(pattern string, isRegex bool) (matcher, error) {
	if !isRegex {
		return literalMatcher{pattern}, nil
	}
	switch pattern {
	case Qwen2Pattern:
		return qwen2Matcher{1}, nil
	case Llama3Pattern:
		return qwen2Matcher{3}, nil
	}
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("compile pre-tokenizer pattern %q: %w", pattern, err)
	}
	return regexMatcher{re}, nil
}

// Split behaviours of Hugging Face's SplitDelimiterBehavior.
const (
	behIsolated = iota
	behRemoved
	behMergedWithPrevious
	behMergedWithNext
	behContiguous
)

type splitPre struct {
	m        matcher
	behavior int
	invert   bool
}

func (sp splitPre) split(ps []piece) []piece {
	var out []piece
	for _, p := range ps {
		out = splitOne(out, p, sp.m, sp.behavior, sp.invert)
	}
	return out
}

// splitOne splits p at the matches of m according to behavior and appends
// the non-empty results.
func splitOne(out []piece, p piece, m matcher, behavior int, invert bool) []piece {
	type span struct {
		a, b  int
		match bool
	}
	var spans []span
	prev := 0
	m.find(p.s, func(a, b int) {
		if a > prev {
			spans = append(spans, span{prev, a, invert})
		}
		spans = append(spans, span{a, b, !invert})
		prev = b
	})
	if prev < len(p.s) {
		spans = append(spans, span{prev, len(p.s), invert})
	}
	add := func(a, b int) {
		if b > a {
			out = append(out, piece{s: p.s[a:b], first: p.first && a == 0})
		}
	}
	switch behavior {
	case behIsolated:
		for _, sp := range spans {
			add(sp.a, sp.b)
		}
	case behRemoved:
		for _, sp := range spans {
			if !sp.match {
				add(sp.a, sp.b)
			}
		}
	case behMergedWithPrevious:
		start := 0
		for _, sp := range spans {
			if sp.match {
				add(start, sp.b)
				start = sp.b
			}
		}
		add(start, len(p.s))
	case behMergedWithNext:
		start := 0
		for _, sp := range spans {
			if sp.match && sp.a > start {
				add(start, sp.a)
				start = sp.a
			}
		}
		add(start, len(p.s))
	case behContiguous:
		i := 0
		for i < len(spans) {
			j := i
			for j+1 < len(spans) && spans[j+1].match == spans[i].match {
				j++
			}
			add(spans[i].a, spans[j].b)
			i = j + 1
		}
	}
	return out
}

// byteLevelPre is the ByteLevel pre-tokenizer. Its byte → alphabet mapping
// is done by the model (pieces stay raw bytes); it must be the last step.
type byteLevelPre struct {
	addPrefixSpace bool
	useRegex       *regexMatcher
}

func (b byteLevelPre) split(ps []piece) []piece {
	var out []piece
	for _, p := range ps {
		if b.addPrefixSpace && !strings.HasPrefix(p.s, " ") {
			p.s = " " + p.s
		}
		if b.useRegex != nil {
			out = splitOne(out, p, *b.useRegex, behIsolated, false)
		} else {
			out = append(out, p)
		}
	}
	return out
}

// metaspacePre replaces spaces with the replacement character (U+2581),
// optionally prepends it, and optionally splits before each occurrence.
type metaspacePre struct {
	repl          string
	prependScheme string // "always", "first" or "never"
	splitOn       bool
}

func (m metaspacePre) split(ps []piece) []piece {
	var out []piece
	for _, p := range ps {
		s := strings.ReplaceAll(p.s, " ", m.repl)
		if !strings.HasPrefix(s, m.repl) && (m.prependScheme == "always" || m.prependScheme == "first" && p.first) {
			s = m.repl + s
		}
		p.s = s
		if m.splitOn {
			out = splitOne(out, p, literalMatcher{m.repl}, behMergedWithNext, false)
		} else if s != "" {
			out = append(out, p)
		}
	}
	return out
}

// digitsPre isolates digits (each one, or runs of them).
type digitsPre struct{ individual bool }

type digitMatcher struct{ individual bool }

func (d digitMatcher) find(s string, emit func(int, int)) {
	i := 0
	for i < len(s) {
		r, w := decodeAt(s, i)
		if !isN(r) {
			i += w
			continue
		}
		if d.individual {
			emit(i, i+w)
			i += w
			continue
		}
		j := i + w
		for j < len(s) {
			r2, w2 := decodeAt(s, j)
			if !isN(r2) {
				break
			}
			j += w2
		}
		emit(i, j)
		i = j
	}
}

func (d digitsPre) split(ps []piece) []piece {
	var out []piece
	for _, p := range ps {
		out = splitOne(out, p, digitMatcher(d), behIsolated, false)
	}
	return out
}

// wsSplitPre is WhitespaceSplit: split on white space, which is removed.
type wsSplitPre struct{}

type wsMatcher struct{}

func (wsMatcher) find(s string, emit func(int, int)) {
	i := 0
	for i < len(s) {
		r, w := decodeAt(s, i)
		if !isS(r) {
			i += w
			continue
		}
		j := i + w
		for j < len(s) {
			r2, w2 := decodeAt(s, j)
			if !isS(r2) {
				break
			}
			j += w2
		}
		emit(i, j)
		i = j
	}
}

func (wsSplitPre) split(ps []piece) []piece {
	var out []piece
	for _, p := range ps {
		out = splitOne(out, p, wsMatcher{}, behRemoved, false)
	}
	return out
}

type preSeq []preTokenizer

func (q preSeq) split(ps []piece) []piece {
	for _, p := range q {
		ps = p.split(ps)
	}
	return ps
}

// ---- decoders ----

// decoder is one step of a tokenizer.json "decoder" (Hugging Face's
// decode_chain: tokens in, tokens out).
type decoder interface {
	decodeChain(toks []string) []string
}

type byteLevelDec struct{}

func (byteLevelDec) decodeChain(toks []string) []string {
	var b []byte
	for _, t := range toks {
		b = byteLevelDecodeToken(b, t)
	}
	return []string{ValidUTF8Lossy(b)}
}

type replaceDec struct{ old, new string }

func (r replaceDec) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = strings.ReplaceAll(t, r.old, r.new)
	}
	return out
}

type byteFallbackDec struct{}

func (byteFallbackDec) decodeChain(toks []string) []string {
	var out []string
	var pend []byte
	flush := func() {
		if len(pend) == 0 {
			return
		}
		if utf8.Valid(pend) {
			out = append(out, string(pend))
		} else {
			for range pend {
				out = append(out, "\uFFFD")
			}
		}
		pend = pend[:0]
	}
	for _, t := range toks {
		if b, ok := parseByteToken(t); ok {
			pend = append(pend, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// parseByteToken recognises "<0xAB>".
func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(t[3:5]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | d
	}
	return v, true
}

type fuseDec struct{}

func (fuseDec) decodeChain(toks []string) []string { return []string{strings.Join(toks, "")} }

type stripDec struct {
	content     rune
	start, stop int
}

func (s stripDec) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		rs := []rune(t)
		a := 0
		for k := 0; k < s.start && k < len(rs) && rs[k] == s.content; k++ {
			a = k + 1
		}
		b := len(rs)
		for k := 0; k < s.stop && len(rs)-1-k >= a && rs[len(rs)-1-k] == s.content; k++ {
			b = len(rs) - 1 - k
		}
		out[i] = string(rs[a:b])
	}
	return out
}

// metaspaceDec turns U+2581 back into spaces, dropping it at the start of
// the first token when a prefix was prepended.
type metaspaceDec struct {
	repl          rune
	prependScheme string
}

func (m metaspaceDec) decodeChain(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		var b strings.Builder
		for k, r := range t {
			if r == m.repl {
				if i == 0 && k == 0 && m.prependScheme != "never" {
					continue
				}
				b.WriteByte(' ')
			} else {
				b.WriteRune(r)
			}
		}
		out[i] = b.String()
	}
	return out
}

type decSeq []decoder

func (q decSeq) decodeChain(toks []string) []string {
	for _, d := range q {
		toks = d.decodeChain(toks)
	}
	return toks
}
