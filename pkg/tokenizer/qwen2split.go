package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Qwen2Pattern is the pre-tokenizer regex of Qwen2/Qwen2.5/Qwen3
// tokenizer.json files. Go's regexp cannot express its `\s+(?!\S)`
// lookahead, so qwen2Split is a hand-written scanner with the same
// (backtracking, first-alternative-wins) semantics as Oniguruma, which
// Hugging Face tokenizers uses.
const Qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// Llama3Pattern is Qwen2Pattern with numbers split into runs of up to three
// digits (Llama 3's tokenizer.json); the same scanner runs it.
const Llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// GPT2Pattern is the regex of the ByteLevel pre-tokenizer with use_regex.
const GPT2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// Character classes. \s is the Unicode White_Space property (Go's
// unicode.IsSpace is exactly that), \p{L} and \p{N} the general categories.
func isL(r rune) bool {
	if r < utf8.RuneSelf {
		return (r|0x20) >= 'a' && (r|0x20) <= 'z'
	}
	return unicode.IsLetter(r)
}

func isN(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= '0' && r <= '9'
	}
	return unicode.IsNumber(r)
}

func isS(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.IsSpace(r)
}

// decodeAt decodes the rune at s[i]. An invalid byte decodes as
// utf8.RuneError of width 1, which classifies as "other" (neither letter,
// number nor space).
func decodeAt(s string, i int) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// contraction returns the byte length of the letters of a case-insensitive
// 's 't 're 've 'm 'll 'd (without the apostrophe) starting at s[i], or 0.
// Oniguruma folds U+017F LATIN SMALL LETTER LONG S to "s", so "'ſ" matches
// too.
func contraction(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i] | 0x20
	switch c {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v', 'l':
		if i+1 < len(s) {
			d := s[i+1] | 0x20
			if (c == 'r' || c == 'v') && d == 'e' || c == 'l' && d == 'l' {
				return 2
			}
		}
		return 0
	}
	if s[i] == 0xC5 && i+1 < len(s) && s[i+1] == 0xBF { // U+017F ſ
		return 2
	}
	return 0
}

// qwen2Split splits s into the pieces Qwen2Pattern matches (behaviour
// "Isolated": every byte belongs to exactly one match), calling emit with
// each piece's byte range.
func qwen2Split(s string, emit func(start, end int)) { splitScan(s, 1, emit) }

// splitScan runs Qwen2Pattern, or Llama3Pattern when maxDigits is 3.
func splitScan(s string, maxDigits int, emit func(start, end int)) {
	n := len(s)
	i := 0
	for i < n {
		r, w := decodeAt(s, i)
		// 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
		if r == '\'' {
			if l := contraction(s, i+1); l > 0 {
				emit(i, i+1+l)
				i += 1 + l
				continue
			}
		}
		// 2. [^\r\n\p{L}\p{N}]?\p{L}+
		if isL(r) {
			j := scanLetters(s, i+w)
			emit(i, j)
			i = j
			continue
		}
		if r != '\r' && r != '\n' && !isN(r) && i+w < n {
			if r2, w2 := decodeAt(s, i+w); isL(r2) {
				j := scanLetters(s, i+w+w2)
				emit(i, j)
				i = j
				continue
			}
		}
		// 3. \p{N} (Llama 3: \p{N}{1,3})
		if isN(r) {
			j := i + w
			for k := 1; k < maxDigits && j < n; k++ {
				r2, w2 := decodeAt(s, j)
				if !isN(r2) {
					break
				}
				j += w2
			}
			emit(i, j)
			i = j
			continue
		}
		// 4. ' '?[^\s\p{L}\p{N}]+[\r\n]*
		p := -1
		if !isS(r) { // r is neither L nor N here
			p = i + w
		} else if r == ' ' && i+1 < n {
			if r2, w2 := decodeAt(s, i+1); !isS(r2) && !isL(r2) && !isN(r2) {
				p = i + 1 + w2
			}
		}
		if p >= 0 {
			for p < n {
				r2, w2 := decodeAt(s, p)
				if isS(r2) || isL(r2) || isN(r2) {
					break
				}
				p += w2
			}
			for p < n && (s[p] == '\r' || s[p] == '\n') {
				p++
			}
			emit(i, p)
			i = p
			continue
		}
		// r is white space from here on.
		// 5. \s*[\r\n]+ : up to the last CR/LF of the white-space run.
		// 6. \s+(?!\S) : the whole run at the end of input, else the run
		//    minus its last character if that leaves at least one.
		// 7. \s+       : a single white-space character before non-space.
		j, last, lastNL, count := i, i, -1, 0
		for j < n {
			r2, w2 := decodeAt(s, j)
			if !isS(r2) {
				break
			}
			if r2 == '\r' || r2 == '\n' {
				lastNL = j + 1
			}
			last = j
			j += w2
			count++
		}
		switch {
		case lastNL > 0:
			j = lastNL
		case j == n:
		case count >= 2:
			j = last
		}
		emit(i, j)
		i = j
	}
}

func scanLetters(s string, j int) int {
	for j < len(s) {
		r, w := decodeAt(s, j)
		if !isL(r) {
			break
		}
		j += w
	}
	return j
}
