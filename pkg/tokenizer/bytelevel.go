package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// byteToRune is GPT-2's reversible byte → printable-character table used by
// byte-level BPE: printable Latin-1 bytes map to themselves, the others to
// U+0100 onwards in byte order.
var byteToRune = func() [256]rune {
	var t [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			t[b] = rune(b)
		} else {
			t[b] = rune(256 + n)
			n++
		}
	}
	return t
}()

// runeToByte inverts byteToRune; entries are -1 for characters outside the
// byte-level alphabet. The alphabet spans U+0000..U+0143.
var runeToByte = func() [0x144]int16 {
	var t [0x144]int16
	for i := range t {
		t[i] = -1
	}
	for b, r := range byteToRune {
		t[r] = int16(b)
	}
	return t
}()

// ByteLevelEncode maps raw bytes to the byte-level alphabet in which
// tokenizer.json (and mllm's vocab .mllm) store byte-level BPE tokens.
func ByteLevelEncode(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteToRune[s[i]])
	}
	return b.String()
}

// byteLevelDecodeToken appends the bytes a byte-level token stands for. As
// in Hugging Face's ByteLevel decoder, a token containing any character
// outside the alphabet (an added token such as "<|im_end|>" is inside it,
// one with a space is not) contributes its raw UTF-8 bytes instead.
func byteLevelDecodeToken(dst []byte, tok string) []byte {
	start := len(dst)
	for _, r := range tok {
		if r < 0 || int(r) >= len(runeToByte) || runeToByte[r] < 0 {
			return append(dst[:start], tok...)
		}
		dst = append(dst, byte(runeToByte[r]))
	}
	return dst
}

// ByteLevelDecode inverts ByteLevelEncode for one token; ok is false when tok
// has a character outside the byte-level alphabet.
func ByteLevelDecode(tok string) (raw string, ok bool) {
	b := make([]byte, 0, len(tok))
	for _, r := range tok {
		if r < 0 || int(r) >= len(runeToByte) || runeToByte[r] < 0 {
			return "", false
		}
		b = append(b, byte(runeToByte[r]))
	}
	return string(b), true
}

// ValidUTF8Lossy converts b to a string, replacing every maximal ill-formed
// subsequence with U+FFFD — the Unicode "maximal subpart" practice used by
// Rust's String::from_utf8_lossy and Python's decode(errors="replace"), and
// hence by Hugging Face's decode. (Go's strings.ToValidUTF8 instead merges a
// whole run of bad bytes into one replacement.)
func ValidUTF8Lossy(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var out strings.Builder
	out.Grow(len(b) + 8)
	i := 0
	for i < len(b) {
		c := b[i]
		if c < 0x80 {
			out.WriteByte(c)
			i++
			continue
		}
		n := validPrefix(b[i:])
		if n > 0 {
			out.Write(b[i : i+n])
			i += n
			continue
		}
		out.WriteString("\uFFFD")
		i += maximalSubpart(b[i:])
	}
	return out.String()
}

// validPrefix returns the length of the well-formed multi-byte sequence at
// the start of b, or 0 if there is none.
func validPrefix(b []byte) int {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n <= 1 {
		return 0
	}
	return n
}

// maximalSubpart returns the length (≥1) of the maximal subpart of an
// ill-formed sequence starting at b[0] (Unicode §3.9, Table 3-7).
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k == 0 {
			if x < lo || x > hi {
				break
			}
		} else if x < 0x80 || x > 0xBF {
			break
		}
		n++
	}
	return n
}
