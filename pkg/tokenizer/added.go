package tokenizer

import (
	"sort"
	"unicode"
	"unicode/utf8"
)

// AddedToken is an entry of tokenizer.json's "added_tokens".
type AddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedMatcher finds added tokens leftmost-longest, like the Aho-Corasick
// automaton (MatchKind::LeftmostLongest) of Hugging Face's AddedVocabulary.
type addedMatcher struct {
	byFirst [256][]int // indices into toks, longest pattern first
	pats    []string   // pattern text (normalized content for normalized tokens)
	toks    []*AddedToken
}

func newAddedMatcher(toks []*AddedToken, pat func(*AddedToken) string) *addedMatcher {
	m := &addedMatcher{}
	for _, t := range toks {
		p := pat(t)
		if p == "" {
			continue
		}
		m.pats = append(m.pats, p)
		m.toks = append(m.toks, t)
	}
	for i, p := range m.pats {
		m.byFirst[p[0]] = append(m.byFirst[p[0]], i)
	}
	for b := range m.byFirst {
		l := m.byFirst[b]
		sort.SliceStable(l, func(x, y int) bool { return len(m.pats[l[x]]) > len(m.pats[l[y]]) })
	}
	return m
}

func (m *addedMatcher) empty() bool { return m == nil || len(m.pats) == 0 }

// segment is a part of the input: either an added token (id ≥ 0) or text.
type segment struct {
	a, b int
	id   int
}

// split splits s into text and added-token segments as Hugging Face's
// AddedVocabulary::find_matches does, honouring single_word, lstrip and
// rstrip. Special tokens are skipped (left as text) when !allowSpecial.
func (m *addedMatcher) split(s string, allowSpecial bool, out []segment) []segment {
	if m.empty() {
		return append(out, segment{0, len(s), -1})
	}
	startOff := 0
	i := 0
	for i < len(s) {
		cands := m.byFirst[s[i]]
		if len(cands) == 0 {
			i++
			continue
		}
		k := -1
		for _, c := range cands {
			p := m.pats[c]
			if len(p) <= len(s)-i && s[i:i+len(p)] == p {
				k = c
				break
			}
		}
		if k < 0 {
			i++
			continue
		}
		start, stop := i, i+len(m.pats[k])
		i = stop // the automaton resumes after the match in every case
		t := m.toks[k]
		if !allowSpecial && t.Special {
			continue
		}
		if t.SingleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if t.LStrip {
			ns := start
			for ns > 0 {
				r, w := utf8.DecodeLastRuneInString(s[:ns])
				if !isS(r) {
					break
				}
				ns -= w
			}
			start = max(ns, startOff)
		}
		if t.RStrip {
			for stop < len(s) {
				r, w := decodeAt(s, stop)
				if !isS(r) {
					break
				}
				stop += w
			}
		}
		if startOff < start {
			out = append(out, segment{startOff, start, -1})
		}
		out = append(out, segment{start, stop, t.ID})
		startOff = stop
	}
	if startOff < len(s) {
		out = append(out, segment{startOff, len(s), -1})
	}
	return out
}

// isWordChar is Rust regex's Unicode \w.
func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) ||
		unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Join_Control, r) || unicode.Is(unicode.Other_Alphabetic, r)
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordChar(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordChar(r)
}
