package pth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Pickle opcodes (Python's Lib/pickletools.py).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opFloat          = 'F'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opPersID         = 'P'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opString         = 'S'
	opBinString      = 'T'
	opShortBinString = 'U'
	opUnicode        = 'V'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opGet            = 'g'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opPut            = 'p'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	// protocol 2
	opProto    = 0x80
	opNewObj   = 0x81
	opTuple1   = 0x85
	opTuple2   = 0x86
	opTuple3   = 0x87
	opNewTrue  = 0x88
	opNewFalse = 0x89
	opLong1    = 0x8a
	opLong4    = 0x8b
	// protocol 3
	opBinBytes      = 'B'
	opShortBinBytes = 'C'
	// protocol 4
	opShortBinUnicode = 0x8c
	opBinUnicode8     = 0x8d
	opBinBytes8       = 0x8e
	opEmptySet        = 0x8f
	opAddItems        = 0x90
	opFrozenSet       = 0x91
	opNewObjEx        = 0x92
	opStackGlobal     = 0x93
	opMemoize         = 0x94
	opFrame           = 0x95
	// protocol 5
	opByteArray8     = 0x96
	opNextBuffer     = 0x97
	opReadOnlyBuffer = 0x98
)

// maxDepth bounds container nesting so a hostile pickle cannot exhaust the
// stack when values are converted.
const maxDepth = 1000

// global is an allowlisted class or function named by GLOBAL/STACK_GLOBAL.
type global struct{ module, name string }

func (g global) String() string { return g.module + "." + g.name }

// list is a mutable list while unpickling (APPEND must be visible through
// every memo reference); it becomes []any at the end.
type list struct{ items []any }

// persistentLoader resolves a persistent id (torch: the storage tuple).
type persistentLoader func(pid any) (any, error)

// persistent resolves pid, failing (instead of calling a nil loader) in
// pickles that have no persistent ids, such as the legacy format's headers.
func (u *unpickler) persistent(pid any) (any, error) {
	if u.persist == nil {
		return nil, fmt.Errorf("persistent ids are not allowed in this pickle")
	}
	return u.persist(pid)
}

// reducer applies an allowlisted callable to its arguments.
type reducer func(fn global, args Tuple) (any, error)

// unpickler is a small, allowlisting pickle virtual machine. It never
// imports or calls anything: GLOBAL pushes a name that must be in allowed,
// and REDUCE/NEWOBJ/BUILD on such names are interpreted by the caller.
type unpickler struct {
	data    []byte
	pos     int
	stack   []any
	marks   []int
	memo    map[uint64]any
	dictIdx map[*Dict]map[any]int
	allowed func(g global) bool
	persist persistentLoader
	reduce  reducer
}

func (u *unpickler) errf(format string, a ...any) error {
	return fmt.Errorf("pickle offset %d: %s", u.pos, fmt.Sprintf(format, a...))
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, u.errf("truncated: need %d bytes, %d left", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", u.errf("truncated: missing newline")
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	base := 0
	if len(u.marks) > 0 {
		base = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= base {
		return nil, u.errf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	base := 0
	if len(u.marks) > 0 {
		base = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= base {
		return nil, u.errf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errf("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) uint(n int) (uint64, error) {
	b, err := u.read(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// decodeLong decodes a little-endian two's-complement integer (LONG1/LONG4).
func decodeLong(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > 8 {
		// Accept redundant sign bytes only.
		ext := byte(0)
		if b[7]&0x80 != 0 {
			ext = 0xff
		}
		for _, c := range b[8:] {
			if c != ext {
				return 0, fmt.Errorf("integer of %d bytes does not fit int64", len(b))
			}
		}
		b = b[:8]
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if n := len(b); n < 8 && b[n-1]&0x80 != 0 {
		v |= ^uint64(0) << (8 * n)
	}
	return int64(v), nil
}

func (u *unpickler) load() (any, error) {
	for {
		if u.pos >= len(u.data) {
			return nil, u.errf("truncated: no STOP opcode")
		}
		op := u.data[u.pos]
		u.pos++
		if err := u.step(op); err != nil {
			if err == errStop {
				v, err := u.pop()
				if err != nil {
					return nil, err
				}
				return u.finish(v, 0)
			}
			return nil, err
		}
	}
}

type stopSignal struct{}

func (stopSignal) Error() string { return "STOP" }

var errStop error = stopSignal{}

func (u *unpickler) step(op byte) error {
	switch op {
	case opProto:
		v, err := u.uint(1)
		if err != nil {
			return err
		}
		if v > 5 {
			return u.errf("unsupported pickle protocol %d", v)
		}
	case opFrame:
		if _, err := u.uint(8); err != nil {
			return err
		}
	case opStop:
		return errStop
	case opMark:
		u.marks = append(u.marks, len(u.stack))
	case opPop:
		if len(u.marks) > 0 && u.marks[len(u.marks)-1] == len(u.stack) {
			u.marks = u.marks[:len(u.marks)-1]
			return nil
		}
		_, err := u.pop()
		return err
	case opPopMark:
		_, err := u.popMark()
		return err
	case opDup:
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)
	case opNone:
		u.push(nil)
	case opNewTrue:
		u.push(true)
	case opNewFalse:
		u.push(false)
	case opInt:
		s, err := u.readLine()
		if err != nil {
			return err
		}
		switch s {
		case "00":
			u.push(false)
		case "01":
			u.push(true)
		default:
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return u.errf("INT %q: %v", s, err)
			}
			u.push(v)
		}
	case opLong:
		s, err := u.readLine()
		if err != nil {
			return err
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(s, "L"), 10, 64)
		if err != nil {
			return u.errf("LONG %q: %v", s, err)
		}
		u.push(v)
	case opBinInt:
		v, err := u.uint(4)
		if err != nil {
			return err
		}
		u.push(int64(int32(uint32(v))))
	case opBinInt1:
		v, err := u.uint(1)
		if err != nil {
			return err
		}
		u.push(int64(v))
	case opBinInt2:
		v, err := u.uint(2)
		if err != nil {
			return err
		}
		u.push(int64(v))
	case opLong1, opLong4:
		w := 1
		if op == opLong4 {
			w = 4
		}
		n, err := u.uint(w)
		if err != nil {
			return err
		}
		if n > 1<<20 {
			return u.errf("LONG of %d bytes", n)
		}
		b, err := u.read(int(n))
		if err != nil {
			return err
		}
		v, err := decodeLong(b)
		if err != nil {
			return u.errf("%v", err)
		}
		u.push(v)
	case opFloat:
		s, err := u.readLine()
		if err != nil {
			return err
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return u.errf("FLOAT %q: %v", s, err)
		}
		u.push(v)
	case opBinFloat:
		b, err := u.read(8)
		if err != nil {
			return err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opBinUnicode, opShortBinUnicode, opBinUnicode8:
		w := map[byte]int{opBinUnicode: 4, opShortBinUnicode: 1, opBinUnicode8: 8}[op]
		n, err := u.uint(w)
		if err != nil {
			return err
		}
		if n > uint64(len(u.data)) {
			return u.errf("string of %d bytes exceeds the pickle", n)
		}
		b, err := u.read(int(n))
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			return u.errf("string is not valid UTF-8")
		}
		u.push(string(b))
	case opBinString, opShortBinString:
		// Python 2 str: torch's legacy files use it for ASCII keys.
		w := 4
		if op == opShortBinString {
			w = 1
		}
		n, err := u.uint(w)
		if err != nil {
			return err
		}
		if n > uint64(len(u.data)) {
			return u.errf("string of %d bytes exceeds the pickle", n)
		}
		b, err := u.read(int(n))
		if err != nil {
			return err
		}
		u.push(string(b))
	case opString, opUnicode:
		s, err := u.readLine()
		if err != nil {
			return err
		}
		if op == opString {
			q, err := strconv.Unquote(pyQuoteToGo(s))
			if err != nil {
				return u.errf("STRING %q: %v", s, err)
			}
			s = q
		} else if strings.Contains(s, `\`) {
			return u.errf("UNICODE with escapes is not supported")
		}
		u.push(s)
	case opBinBytes, opShortBinBytes, opBinBytes8, opByteArray8:
		w := map[byte]int{opBinBytes: 4, opShortBinBytes: 1, opBinBytes8: 8, opByteArray8: 8}[op]
		n, err := u.uint(w)
		if err != nil {
			return err
		}
		if n > uint64(len(u.data)) {
			return u.errf("bytes of %d exceed the pickle", n)
		}
		b, err := u.read(int(n))
		if err != nil {
			return err
		}
		u.push(append([]byte(nil), b...))
	case opEmptyTuple:
		u.push(Tuple{})
	case opTuple:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(Tuple(items))
	case opTuple1, opTuple2, opTuple3:
		n := int(op - opTuple1 + 1)
		t := make(Tuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := u.pop()
			if err != nil {
				return err
			}
			t[i] = v
		}
		u.push(t)
	case opEmptyList:
		u.push(&list{})
	case opList:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&list{items: items})
	case opAppend:
		v, err := u.pop()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		l, ok := t.(*list)
		if !ok {
			return u.errf("APPEND to %T", t)
		}
		l.items = append(l.items, v)
	case opAppends:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		l, ok := t.(*list)
		if !ok {
			return u.errf("APPENDS to %T", t)
		}
		l.items = append(l.items, items...)
	case opEmptyDict:
		u.push(&Dict{})
	case opDict:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := &Dict{}
		if err := u.setItems(d, items); err != nil {
			return err
		}
		u.push(d)
	case opSetItem:
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		d, ok := t.(*Dict)
		if !ok {
			return u.errf("SETITEM on %T", t)
		}
		return u.setItems(d, []any{k, v})
	case opSetItems:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		d, ok := t.(*Dict)
		if !ok {
			return u.errf("SETITEMS on %T", t)
		}
		return u.setItems(d, items)
	case opGlobal:
		mod, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		return u.pushGlobal(global{mod, name})
	case opStackGlobal:
		n, err := u.pop()
		if err != nil {
			return err
		}
		m, err := u.pop()
		if err != nil {
			return err
		}
		ms, ok1 := m.(string)
		ns, ok2 := n.(string)
		if !ok1 || !ok2 {
			return u.errf("STACK_GLOBAL with %T, %T", m, n)
		}
		return u.pushGlobal(global{ms, ns})
	case opReduce, opNewObj:
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		g, ok := fn.(global)
		if !ok {
			return u.errf("REDUCE/NEWOBJ on %T, not an allowed global", fn)
		}
		at, ok := args.(Tuple)
		if !ok {
			return u.errf("%v called with %T, not a tuple", g, args)
		}
		v, err := u.reduce(g, at)
		if err != nil {
			return u.errf("%v: %v", g, err)
		}
		u.push(v)
	case opBuild:
		state, err := u.pop()
		if err != nil {
			return err
		}
		inst, err := u.top()
		if err != nil {
			return err
		}
		// torch: OrderedDict state (e.g. state_dict._metadata) and
		// Parameter/Tensor state are attributes we do not need.
		switch inst.(type) {
		case *Dict, *tensorValue:
		default:
			return u.errf("BUILD on %T is not allowed", inst)
		}
		_ = state
	case opPersID:
		s, err := u.readLine()
		if err != nil {
			return err
		}
		v, err := u.persistent(s)
		if err != nil {
			return u.errf("persistent id %q: %v", s, err)
		}
		u.push(v)
	case opBinPersID:
		pid, err := u.pop()
		if err != nil {
			return err
		}
		v, err := u.persistent(pid)
		if err != nil {
			return u.errf("persistent id: %v", err)
		}
		u.push(v)
	case opPut:
		s, err := u.readLine()
		if err != nil {
			return err
		}
		i, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return u.errf("PUT %q: %v", s, err)
		}
		return u.put(i)
	case opBinPut, opLongBinPut:
		w := 1
		if op == opLongBinPut {
			w = 4
		}
		i, err := u.uint(w)
		if err != nil {
			return err
		}
		return u.put(i)
	case opMemoize:
		return u.put(uint64(len(u.memo)))
	case opGet:
		s, err := u.readLine()
		if err != nil {
			return err
		}
		i, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return u.errf("GET %q: %v", s, err)
		}
		return u.get(i)
	case opBinGet, opLongBinGet:
		w := 1
		if op == opLongBinGet {
			w = 4
		}
		i, err := u.uint(w)
		if err != nil {
			return err
		}
		return u.get(i)
	default:
		return u.errf("unsupported pickle opcode 0x%02x", op)
	}
	return nil
}

// pyQuoteToGo turns a Python 2 repr'd str ('abc' or "abc") into a Go
// double-quoted literal for strconv.Unquote.
func pyQuoteToGo(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		in := s[1 : len(s)-1]
		in = strings.ReplaceAll(in, `\'`, `'`)
		in = strings.ReplaceAll(in, `"`, `\"`)
		return `"` + in + `"`
	}
	return s
}

func (u *unpickler) pushGlobal(g global) error {
	if !u.allowed(g) {
		return u.errf("global %s is not allowed (only torch tensor/storage rebuilds and collections.OrderedDict are)", g)
	}
	u.push(g)
	return nil
}

func (u *unpickler) put(i uint64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if u.memo == nil {
		u.memo = map[uint64]any{}
	}
	if len(u.memo) > len(u.data) {
		return u.errf("memo too large")
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) get(i uint64) error {
	v, ok := u.memo[i]
	if !ok {
		return u.errf("memo key %d not found", i)
	}
	u.push(v)
	return nil
}

func (u *unpickler) setItems(d *Dict, items []any) error {
	if len(items)%2 != 0 {
		return u.errf("odd number of items (%d) for a dict", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		k := items[i]
		switch k.(type) {
		case nil, bool, int64, float64, string, Tuple:
		default:
			return u.errf("dict key of type %T", k)
		}
		u.setItem(d, k, items[i+1])
	}
	return nil
}

// setItem is Python's d[k] = v: a new key is appended, an existing one
// keeps its position. Hashable scalar keys use an index; tuples compare
// linearly.
func (u *unpickler) setItem(d *Dict, k, v any) {
	hk, hashable := hashKey(k)
	if hashable {
		if u.dictIdx == nil {
			u.dictIdx = map[*Dict]map[any]int{}
		}
		idx := u.dictIdx[d]
		if idx == nil {
			idx = map[any]int{}
			u.dictIdx[d] = idx
		}
		if i, ok := idx[hk]; ok {
			d.Values[i] = v
			return
		}
		idx[hk] = len(d.Keys)
	} else {
		for i, old := range d.Keys {
			if keyEqual(old, k) {
				d.Values[i] = v
				return
			}
		}
	}
	d.Keys = append(d.Keys, k)
	d.Values = append(d.Values, v)
}

// maxNodes bounds the size of the object tree once shared references are
// expanded, so walking the result (Tensors, StateDict, dumps) stays cheap
// even for a hostile pickle built from a DAG of memo references.
const maxNodes = 1 << 22

// finish converts the unpickler's internal values (*list) to the public
// ones ([]any), checking nesting depth, cycles and the expanded size.
func (u *unpickler) finish(v any, depth int) (any, error) {
	f := &finisher{active: map[any]bool{}, done: map[any]finished{}}
	r, n, err := f.value(v, depth)
	if err != nil {
		return nil, err
	}
	if n > maxNodes {
		return nil, fmt.Errorf("object tree expands to more than %d values through shared references", maxNodes)
	}
	return r, nil
}

// finisher converts values once each (shared references stay shared and
// a DAG of references costs linear time), rejecting cycles.
type finisher struct {
	active map[any]bool
	done   map[any]finished
}

type finished struct {
	v    any
	size int64 // values in the expanded tree, saturating at maxNodes+1
}

type tupleKey struct {
	p *any
	n int
}

func (f *finisher) children(items []any, out []any, depth int) (int64, error) {
	n := int64(1)
	for i, it := range items {
		c, k, err := f.value(it, depth+1)
		if err != nil {
			return 0, err
		}
		out[i] = c
		n = min(n+k, maxNodes+1)
	}
	if n > maxNodes {
		return 0, fmt.Errorf("object tree expands to more than %d values through shared references", maxNodes)
	}
	return n, nil
}

func (f *finisher) value(v any, depth int) (any, int64, error) {
	if depth > maxDepth {
		return nil, 0, fmt.Errorf("containers nested deeper than %d", maxDepth)
	}
	switch x := v.(type) {
	case *list:
		if r, ok := f.done[x]; ok {
			return r.v, r.size, nil
		}
		if f.active[x] {
			return nil, 0, fmt.Errorf("recursive list")
		}
		f.active[x] = true
		out := make([]any, len(x.items))
		n, err := f.children(x.items, out, depth)
		if err != nil {
			return nil, 0, err
		}
		delete(f.active, x)
		f.done[x] = finished{out, n}
		return out, n, nil
	case Tuple:
		if len(x) == 0 {
			return x, 1, nil
		}
		k := tupleKey{&x[0], len(x)}
		if r, ok := f.done[k]; ok {
			return r.v, r.size, nil
		}
		out := make(Tuple, len(x))
		n, err := f.children(x, out, depth)
		if err != nil {
			return nil, 0, err
		}
		f.done[k] = finished{out, n}
		return out, n, nil
	case *Dict:
		if r, ok := f.done[x]; ok {
			return x, r.size, nil
		}
		if f.active[x] {
			return nil, 0, fmt.Errorf("recursive dict")
		}
		f.active[x] = true
		nv, err := f.children(x.Values, x.Values, depth)
		if err != nil {
			return nil, 0, err
		}
		nk, err := f.children(x.Keys, x.Keys, depth)
		if err != nil {
			return nil, 0, err
		}
		n := min(nv+nk, maxNodes+1)
		if n > maxNodes {
			return nil, 0, fmt.Errorf("object tree expands to more than %d values through shared references", maxNodes)
		}
		delete(f.active, x)
		f.done[x] = finished{x, n}
		return x, n, nil
	case *tensorValue:
		return x.t, 1, nil
	case global:
		return nil, 0, fmt.Errorf("bare global %s in the result", x)
	case storage:
		return nil, 0, fmt.Errorf("bare storage %q in the result", x.key)
	case *big.Int:
		return nil, 0, fmt.Errorf("big integer")
	}
	return v, 1, nil
}
