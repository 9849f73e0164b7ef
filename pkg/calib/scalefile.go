// Package calib computes mllm's activation statistics ("scale JSON", spec
// §2.5–2.6) exactly and with bounded memory, and reads and writes the scale
// JSON byte-for-byte as Python's json.dump(indent=4) does.
//
// The order statistics (ori = maximum, top_0_1 = the element at index
// k = int(N·0.999)−1 of the sorted values) are identical to NumPy's
// np.partition over the concatenation of every recorded value: per layer and
// direction only the largest N−k values are kept (N is known in advance),
// sorted and delta-encoded at 1.2–1.8 bytes per value (keystore.go), which
// is the only memory that grows with the number of samples.
// mean and std are computed from exact (integer) sums of the values and their
// squares and rounded once to float32. NumPy's float32 pairwise summation
// differs from that in the last float32 digits (for the spec §2.6 example:
// input mean 0.8050000071525574 here, 0.8049999475479126 in NumPy). Its mean
// could be replayed on a stream (the pairwise tree depends only on N), but
// np.std sums float32 squares of (x − float32 mean), which needs the mean
// before the first value, i.e. a second pass over every activation; the
// spec allows the deviation (downstream only the keys are used). Exact sums
// make the result independent of the order of samples, so resumed and
// merged runs are byte-identical.
package calib

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Range is a pair of per-direction values: the recorded input and output of
// one Linear.
type Range struct {
	Input, Output float64
}

// Stat is the "all_stat" entry of one direction.
type Stat struct {
	Mean, Std float64
}

// ScaleFile is the scale JSON written by profiling (get_distribution.py) and
// read by the export.
type ScaleFile struct {
	// Layers is the all_stat key order (the order in which each Linear was
	// first called); it is also the order written for ori and top_0_1.
	Layers []string
	Ori    map[string]Range
	Top01  map[string]Range
	// AllStat holds [input, output].
	AllStat map[string][2]Stat
}

// NewScaleFile returns an empty scale file.
func NewScaleFile() *ScaleFile {
	return &ScaleFile{Ori: map[string]Range{}, Top01: map[string]Range{}, AllStat: map[string][2]Stat{}}
}

// FormatFloat formats v like Python's repr(float): shortest round-trip
// digits, fixed notation for decimal exponents in [-4, 16) (with ".0" for
// integral values), otherwise d.ddde±XX; NaN, Infinity and -Infinity as
// json.dump writes them.
func FormatFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	s := strconv.FormatFloat(v, 'e', -1, 64) // [-]d[.ddd]e±XX
	neg := false
	if s[0] == '-' {
		neg = true
		s = s[1:]
	}
	epos := strings.IndexByte(s, 'e')
	mant, expStr := s[:epos], s[epos+1:]
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	if exp >= -4 && exp < 16 {
		if exp < 0 {
			out = "0." + strings.Repeat("0", -exp-1) + digits
		} else if len(digits) <= exp+1 {
			out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
		} else {
			out = digits[:exp+1] + "." + digits[exp+1:]
		}
	} else {
		out = s // Go already writes at least two exponent digits
	}
	if neg {
		return "-" + out
	}
	return out
}

// WriteJSON writes the scale file exactly as Python's
// json.dump({"ori":…, "top_0_1":…, "all_stat":…}, f, indent=4) does: four
// spaces of indentation, no trailing newline, layers in s.Layers order.
func (s *ScaleFile) WriteJSON(w io.Writer) error {
	if err := s.Validate(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	q := func(k string) string { return pyQuote(k) }
	bw.WriteString("{")
	section := func(name string, last bool, body func(l string, ind string)) {
		bw.WriteString("\n    " + q(name) + ": {")
		for i, l := range s.Layers {
			bw.WriteString("\n        " + q(l) + ": {")
			body(l, "\n            ")
			bw.WriteString("\n        }")
			if i < len(s.Layers)-1 {
				bw.WriteString(",")
			}
		}
		if len(s.Layers) > 0 {
			bw.WriteString("\n    }")
		} else {
			// json.dump writes an empty dict as "{}".
			bw.WriteString("}")
		}
		if !last {
			bw.WriteString(",")
		}
	}
	rng := func(m map[string]Range) func(string, string) {
		return func(l, ind string) {
			r := m[l]
			bw.WriteString(ind + `"input": ` + FormatFloat(r.Input) + ",")
			bw.WriteString(ind + `"output": ` + FormatFloat(r.Output))
		}
	}
	section("ori", false, rng(s.Ori))
	section("top_0_1", false, rng(s.Top01))
	section("all_stat", true, func(l, ind string) {
		st := s.AllStat[l]
		for d, name := range []string{"input", "output"} {
			bw.WriteString(ind + q(name) + ": {")
			bw.WriteString(ind + `    "mean": ` + FormatFloat(st[d].Mean) + ",")
			bw.WriteString(ind + `    "std": ` + FormatFloat(st[d].Std))
			bw.WriteString(ind + "}")
			if d == 0 {
				bw.WriteString(",")
			}
		}
	})
	bw.WriteString("\n}")
	return bw.Flush()
}

// pyQuote quotes a key as json.dump(ensure_ascii=False) does.
func pyQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Validate checks that ori, top_0_1 and all_stat describe exactly the layers
// of s.Layers (no duplicates, nothing missing, nothing extra).
func (s *ScaleFile) Validate() error {
	seen := make(map[string]bool, len(s.Layers))
	for _, l := range s.Layers {
		if seen[l] {
			return fmt.Errorf("scale file: layer %q is listed twice", l)
		}
		seen[l] = true
		if _, ok := s.AllStat[l]; !ok {
			return fmt.Errorf("scale file: all_stat has no layer %q", l)
		}
		if _, ok := s.Ori[l]; !ok {
			return fmt.Errorf("scale file: ori has no layer %q (it is in all_stat)", l)
		}
		if _, ok := s.Top01[l]; !ok {
			return fmt.Errorf("scale file: top_0_1 has no layer %q (it is in all_stat)", l)
		}
	}
	for name, m := range map[string]int{"ori": len(s.Ori), "top_0_1": len(s.Top01), "all_stat": len(s.AllStat)} {
		if m != len(s.Layers) {
			var extra []string
			switch name {
			case "ori":
				extra = extraKeys(s.Ori, seen)
			case "top_0_1":
				extra = extraKeys(s.Top01, seen)
			default:
				extra = extraKeys(s.AllStat, seen)
			}
			return fmt.Errorf("scale file: %s has layers not in all_stat: %s", name, strings.Join(extra, ", "))
		}
	}
	return nil
}

func extraKeys[V any](m map[string]V, seen map[string]bool) []string {
	var out []string
	for k := range m {
		if !seen[k] {
			out = append(out, strconv.Quote(k))
		}
	}
	return out
}

// ClipDecision is the export's clip flag and activation scale for one layer
// (spec §4.4).
type ClipDecision struct {
	Layer             string
	ClipIn, ClipOut   bool
	ScaleIn, ScaleOut float64
}

// ClipDecisions applies mllm's clip rule (spec §4.4, TV7) to every layer in
// all_stat order: a direction clips (scale = ori) when the layer is not in
// the direction's no-clip set and (clipAll or top·t > ori, a float64 multiply
// with a strict '>'); otherwise it does not clip and its scale is top_0_1.
// t may be nil only when clipAll is set.
func (s *ScaleFile) ClipDecisions(t *int, clipAll bool, noClipIn, noClipOut map[string]bool) ([]ClipDecision, error) {
	if t == nil && !clipAll {
		return nil, fmt.Errorf("scale file: t01m_clip_threshold is required unless clip_all is set")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	out := make([]ClipDecision, 0, len(s.Layers))
	decide := func(l string, ori, top float64, noClip map[string]bool) (bool, float64) {
		if !noClip[l] && (clipAll || top*float64(*t) > ori) {
			return true, ori
		}
		return false, top
	}
	for _, l := range s.Layers {
		o, tp := s.Ori[l], s.Top01[l]
		d := ClipDecision{Layer: l}
		d.ClipIn, d.ScaleIn = decide(l, o.Input, tp.Input, noClipIn)
		d.ClipOut, d.ScaleOut = decide(l, o.Output, tp.Output, noClipOut)
		out = append(out, d)
	}
	return out, nil
}

// ReadScaleFile reads a scale JSON (Python's json, so NaN, Infinity and
// -Infinity are accepted). Layers follow the all_stat key order. Errors name
// the file, section and layer.
func ReadScaleFile(path string) (*ScaleFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scale file: %w", err)
	}
	s, err := ParseScaleJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseScaleJSON parses the bytes of a scale JSON (see ReadScaleFile).
func ParseScaleJSON(data []byte) (*ScaleFile, error) {
	p := &jparser{b: data}
	root, err := p.parseTop()
	if err != nil {
		return nil, err
	}
	obj, ok := root.(*jobject)
	if !ok {
		return nil, fmt.Errorf("scale file: top level is not an object")
	}
	s := NewScaleFile()
	for _, k := range obj.keys {
		switch k {
		case "ori", "top_0_1", "all_stat":
		default:
			return nil, fmt.Errorf("scale file: unexpected top-level key %q", k)
		}
	}
	sec := func(name string) (*jobject, error) {
		v, ok := obj.vals[name]
		if !ok {
			return nil, fmt.Errorf("scale file: missing top-level key %q", name)
		}
		o, ok := v.(*jobject)
		if !ok {
			return nil, fmt.Errorf("scale file: %q is not an object", name)
		}
		return o, nil
	}
	num := func(o *jobject, path, key string) (float64, error) {
		v, ok := o.vals[key]
		if !ok {
			return 0, fmt.Errorf("scale file: %s: missing key %q", path, key)
		}
		f, ok := v.(float64)
		if !ok {
			return 0, fmt.Errorf("scale file: %s.%s is not a number", path, key)
		}
		return f, nil
	}
	sub := func(o *jobject, path, key string) (*jobject, error) {
		v, ok := o.vals[key]
		if !ok {
			return nil, fmt.Errorf("scale file: %s: missing key %q", path, key)
		}
		so, ok := v.(*jobject)
		if !ok {
			return nil, fmt.Errorf("scale file: %s.%s is not an object", path, key)
		}
		return so, nil
	}
	for _, name := range []string{"ori", "top_0_1"} {
		o, err := sec(name)
		if err != nil {
			return nil, err
		}
		dst := s.Ori
		if name == "top_0_1" {
			dst = s.Top01
		}
		for _, l := range o.keys {
			lo, err := sub(o, name, l)
			if err != nil {
				return nil, err
			}
			var r Range
			if r.Input, err = num(lo, name+"."+l, "input"); err != nil {
				return nil, err
			}
			if r.Output, err = num(lo, name+"."+l, "output"); err != nil {
				return nil, err
			}
			dst[l] = r
		}
	}
	as, err := sec("all_stat")
	if err != nil {
		return nil, err
	}
	for _, l := range as.keys {
		lo, err := sub(as, "all_stat", l)
		if err != nil {
			return nil, err
		}
		var st [2]Stat
		for d, dir := range []string{"input", "output"} {
			do, err := sub(lo, "all_stat."+l, dir)
			if err != nil {
				return nil, err
			}
			p := "all_stat." + l + "." + dir
			if st[d].Mean, err = num(do, p, "mean"); err != nil {
				return nil, err
			}
			if st[d].Std, err = num(do, p, "std"); err != nil {
				return nil, err
			}
		}
		s.AllStat[l] = st
		s.Layers = append(s.Layers, l)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// jobject is a JSON object that remembers its key order. A repeated key
// keeps its first position and its last value, as Python's dict does.
type jobject struct {
	keys []string
	vals map[string]any
}

// jparser is a small JSON parser accepting Python's NaN/Infinity literals.
type jparser struct {
	b   []byte
	pos int
}

func (p *jparser) errf(format string, a ...any) error {
	return fmt.Errorf("scale file: offset %d: %s", p.pos, fmt.Sprintf(format, a...))
}

func (p *jparser) ws() {
	for p.pos < len(p.b) {
		switch p.b[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jparser) parseTop() (any, error) {
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.pos != len(p.b) {
		return nil, p.errf("trailing data")
	}
	return v, nil
}

func (p *jparser) value(depth int) (any, error) {
	if depth > 64 {
		return nil, p.errf("nesting too deep")
	}
	p.ws()
	if p.pos >= len(p.b) {
		return nil, p.errf("unexpected end of input")
	}
	switch c := p.b[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.str()
	case c == 't' && p.lit("true"):
		return true, nil
	case c == 'f' && p.lit("false"):
		return false, nil
	case c == 'n' && p.lit("null"):
		return nil, nil
	case c == 'N' && p.lit("NaN"):
		return math.NaN(), nil
	case c == 'I' && p.lit("Infinity"):
		return math.Inf(1), nil
	case c == '-' && p.lit("-Infinity"):
		return math.Inf(-1), nil
	default:
		return p.number()
	}
}

func (p *jparser) lit(s string) bool {
	if strings.HasPrefix(string(p.b[p.pos:min(len(p.b), p.pos+len(s))]), s) {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *jparser) number() (any, error) {
	start := p.pos
	for p.pos < len(p.b) && strings.IndexByte("+-0123456789.eE", p.b[p.pos]) >= 0 {
		p.pos++
	}
	if start == p.pos {
		return nil, p.errf("unexpected character %q", p.b[p.pos])
	}
	f, err := strconv.ParseFloat(string(p.b[start:p.pos]), 64)
	if err != nil {
		p.pos = start
		return nil, p.errf("bad number %q", string(p.b[start:min(len(p.b), start+32)]))
	}
	return f, nil
}

func (p *jparser) str() (string, error) {
	start := p.pos
	p.pos++
	for p.pos < len(p.b) {
		switch p.b[p.pos] {
		case '\\':
			p.pos += 2
			continue
		case '"':
			p.pos++
			s, err := strconv.Unquote(jsonToGoQuote(string(p.b[start:p.pos])))
			if err != nil {
				p.pos = start
				return "", p.errf("bad string")
			}
			return s, nil
		}
		p.pos++
	}
	p.pos = start
	return "", p.errf("unterminated string")
}

// jsonToGoQuote turns a JSON string literal into a Go one (JSON allows "\/").
func jsonToGoQuote(s string) string { return strings.ReplaceAll(s, `\/`, `/`) }

func (p *jparser) object(depth int) (any, error) {
	p.pos++ // {
	o := &jobject{vals: map[string]any{}}
	p.ws()
	if p.pos < len(p.b) && p.b[p.pos] == '}' {
		p.pos++
		return o, nil
	}
	for {
		p.ws()
		if p.pos >= len(p.b) || p.b[p.pos] != '"' {
			return nil, p.errf("expected a key")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.pos >= len(p.b) || p.b[p.pos] != ':' {
			return nil, p.errf("expected ':' after key %q", k)
		}
		p.pos++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, dup := o.vals[k]; !dup {
			o.keys = append(o.keys, k)
		}
		o.vals[k] = v
		p.ws()
		if p.pos >= len(p.b) {
			return nil, p.errf("unterminated object")
		}
		if p.b[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.b[p.pos] == '}' {
			p.pos++
			return o, nil
		}
		return nil, p.errf("expected ',' or '}'")
	}
}

func (p *jparser) array(depth int) (any, error) {
	p.pos++ // [
	var out []any
	p.ws()
	if p.pos < len(p.b) && p.b[p.pos] == ']' {
		p.pos++
		return out, nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.ws()
		if p.pos >= len(p.b) {
			return nil, p.errf("unterminated array")
		}
		if p.b[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.b[p.pos] == ']' {
			p.pos++
			return out, nil
		}
		return nil, p.errf("expected ',' or ']'")
	}
}
