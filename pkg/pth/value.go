package pth

import (
	"fmt"
	"math"

	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// Dict is a Python dict or collections.OrderedDict, in insertion order.
// Keys are nil, bool, int64, float64, string or Tuple values.
type Dict struct {
	Keys    []any
	Values  []any
	Ordered bool // true for collections.OrderedDict
}

// Get returns the value stored under the string key.
func (d *Dict) Get(key string) (any, bool) {
	for i, k := range d.Keys {
		if s, ok := k.(string); ok && s == key {
			return d.Values[i], true
		}
	}
	return nil, false
}

// Set stores v under key: an existing key keeps its position, a new key is
// appended (Python's d[key] = v).
func (d *Dict) Set(key any, v any) {
	for i, k := range d.Keys {
		if keyEqual(k, key) {
			d.Values[i] = v
			return
		}
	}
	d.Keys = append(d.Keys, key)
	d.Values = append(d.Values, v)
}

// Len is the number of entries.
func (d *Dict) Len() int { return len(d.Keys) }

// Tuple is a Python tuple.
type Tuple []any

// noneKey stands for the None key in hash indexes.
type noneKey struct{}

// hashKey normalizes a scalar key as Python hashes it (True == 1 == 1.0).
func hashKey(k any) (any, bool) {
	switch x := k.(type) {
	case nil:
		return noneKey{}, true
	case string:
		return x, true
	case int64:
		return x, true
	case bool:
		if x {
			return int64(1), true
		}
		return int64(0), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
			return int64(x), true
		}
		return x, true
	}
	return nil, false
}

// keyEqual is Python's == for dict keys.
func keyEqual(a, b any) bool {
	ha, oka := hashKey(a)
	hb, okb := hashKey(b)
	if oka || okb {
		return oka && okb && ha == hb
	}
	ta, oka := a.(Tuple)
	tb, okb := b.(Tuple)
	if !oka || !okb || len(ta) != len(tb) {
		return false
	}
	for i := range ta {
		if !keyEqual(ta[i], tb[i]) {
			return false
		}
	}
	return true
}

// tensorValue is a tensor while unpickling (BUILD may target it).
type tensorValue struct{ t *tensor.Tensor }

// storage is a torch storage resolved from a persistent id.
type storage struct {
	key   string
	dtype tensor.DType
	numel int64
	// data returns the storage's bytes (numel × dtype size).
	data func() ([]byte, error)
}

func (s storage) String() string {
	return fmt.Sprintf("storage %q (%v × %d)", s.key, s.dtype, s.numel)
}
