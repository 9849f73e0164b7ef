package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A minimal JSON reader for the two large members of tokenizer.json,
// model.vocab ({"token": id, ...}) and model.merges (["a b", ...] or
// [["a","b"], ...]): encoding/json spends most of Load's time there.

type jscan struct {
	b   []byte
	i   int
	buf []byte
}

func (s *jscan) errf(format string, a ...any) error {
	return fmt.Errorf("offset %d: %s", s.i, fmt.Sprintf(format, a...))
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) expect(c byte) error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != c {
		return s.errf("want %q", c)
	}
	s.i++
	return nil
}

// peek returns the next non-space byte (0 at the end).
func (s *jscan) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// str parses a JSON string.
func (s *jscan) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			v := string(s.b[start:s.i])
			s.i++
			if !utf8.ValidString(v) {
				v = string([]rune(v)) // as encoding/json: U+FFFD per bad byte
			}
			return v, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", s.errf("control character in string")
		}
		s.i++
	}
	// slow path with escapes
	s.buf = append(s.buf[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(s.buf) {
				return string([]rune(string(s.buf))), nil
			}
			return string(s.buf), nil
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return "", s.errf("truncated escape")
			}
			e := s.b[s.i+1]
			s.i += 2
			switch e {
			case '"', '\\', '/':
				s.buf = append(s.buf, e)
			case 'b':
				s.buf = append(s.buf, '\b')
			case 'f':
				s.buf = append(s.buf, '\f')
			case 'n':
				s.buf = append(s.buf, '\n')
			case 'r':
				s.buf = append(s.buf, '\r')
			case 't':
				s.buf = append(s.buf, '\t')
			case 'u':
				r, err := s.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
						save := s.i
						s.i += 2
						if r2, err = s.hex4(); err != nil {
							return "", err
						}
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							r = d
						} else {
							s.i = save
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				s.buf = utf8.AppendRune(s.buf, r)
			default:
				return "", s.errf("bad escape \\%c", e)
			}
		case c < 0x20:
			return "", s.errf("control character in string")
		default:
			s.buf = append(s.buf, c)
			s.i++
		}
	}
	return "", s.errf("unterminated string")
}

func (s *jscan) hex4() (rune, error) {
	if s.i+4 > len(s.b) {
		return 0, s.errf("truncated \\u escape")
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, s.errf("bad \\u escape")
	}
	s.i += 4
	return rune(v), nil
}

func (s *jscan) integer() (int64, error) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	v, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	if err != nil {
		return 0, s.errf("want an integer")
	}
	return v, nil
}

func (s *jscan) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.errf("trailing data")
	}
	return nil
}

// parseVocabFast parses {"token": id, ...}.
func parseVocabFast(raw json.RawMessage) (map[string]int32, error) {
	s := &jscan{b: raw}
	if s.peek() == 'n' {
		return nil, nil
	}
	if err := s.expect('{'); err != nil {
		return nil, err
	}
	m := make(map[string]int32, len(raw)/16)
	if s.peek() == '}' {
		s.i++
		return m, s.end()
	}
	for {
		k, err := s.str()
		if err != nil {
			return nil, err
		}
		if err := s.expect(':'); err != nil {
			return nil, err
		}
		v, err := s.integer()
		if err != nil {
			return nil, err
		}
		if v < 0 || v > 1<<31-1 {
			return nil, s.errf("id %d of %q out of range", v, k)
		}
		m[k] = int32(v)
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return m, s.end()
		default:
			return nil, s.errf("want ',' or '}'")
		}
	}
}

// parseMergesFast parses ["a b", ...] or [["a","b"], ...].
func parseMergesFast(raw json.RawMessage) ([][2]string, error) {
	s := &jscan{b: raw}
	if len(raw) == 0 || s.peek() == 'n' {
		return nil, nil
	}
	if err := s.expect('['); err != nil {
		return nil, err
	}
	var out [][2]string
	if s.peek() == ']' {
		s.i++
		return out, s.end()
	}
	for n := 0; ; n++ {
		var p [2]string
		switch s.peek() {
		case '"':
			v, err := s.str()
			if err != nil {
				return nil, err
			}
			k := -1
			for j := 0; j < len(v); j++ {
				if v[j] == ' ' {
					k = j
					break
				}
			}
			if k < 0 {
				return nil, fmt.Errorf("merge %d %q: no space", n, v)
			}
			p = [2]string{v[:k], v[k+1:]}
		case '[':
			s.i++
			a, err := s.str()
			if err != nil {
				return nil, fmt.Errorf("merge %d: %w", n, err)
			}
			if err := s.expect(','); err != nil {
				return nil, fmt.Errorf("merge %d: %w", n, err)
			}
			b, err := s.str()
			if err != nil {
				return nil, fmt.Errorf("merge %d: %w", n, err)
			}
			if err := s.expect(']'); err != nil {
				return nil, fmt.Errorf("merge %d: want a pair: %w", n, err)
			}
			p = [2]string{a, b}
		default:
			return nil, s.errf("merge %d: want \"a b\" or [\"a\",\"b\"]", n)
		}
		out = append(out, p)
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return out, s.end()
		default:
			return nil, s.errf("want ',' or ']'")
		}
	}
}
