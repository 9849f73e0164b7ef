// Package tensor defines the element types and the lazily read tensor that
// every reader (safetensors, .pth, .mllm) hands to the rest of qnnkit.
//
// A Tensor carries its name, dtype and shape; its bytes are produced only
// when Data is called, so opening a checkpoint reads nothing but headers.
package tensor

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// DType is the element type of a tensor as stored in a source file.
type DType uint8

// Element types known to the readers and writers.
const (
	Invalid DType = iota
	F32
	F16
	BF16
	F64
	I8
	U8
	I16
	I32
	I64
	Bool
)

var dtypeInfo = [...]struct {
	name string
	size int
}{
	Invalid: {"invalid", 0},
	F32:     {"F32", 4},
	F16:     {"F16", 2},
	BF16:    {"BF16", 2},
	F64:     {"F64", 8},
	I8:      {"I8", 1},
	U8:      {"U8", 1},
	I16:     {"I16", 2},
	I32:     {"I32", 4},
	I64:     {"I64", 8},
	Bool:    {"BOOL", 1},
}

// Size is the number of bytes of one element (0 for Invalid).
func (d DType) Size() int {
	if int(d) >= len(dtypeInfo) {
		return 0
	}
	return dtypeInfo[d].size
}

// String returns the safetensors spelling of the dtype (F32, BF16, I8, ...).
func (d DType) String() string {
	if int(d) >= len(dtypeInfo) {
		return fmt.Sprintf("DType(%d)", uint8(d))
	}
	return dtypeInfo[d].name
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == F32 || d == F16 || d == BF16 || d == F64 }

// ParseDType parses the safetensors dtype spelling ("F32", "BF16", "BOOL", ...).
func ParseDType(s string) (DType, error) {
	for i := F32; i <= Bool; i++ {
		if dtypeInfo[i].name == s {
			return i, nil
		}
	}
	return Invalid, fmt.Errorf("unknown dtype %q", s)
}

// Tensor is a named, lazily read tensor.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	// Data returns the tensor's elements in C (row-major) order as
	// little-endian bytes, exactly NumBytes() long. The slice may alias a
	// read-only memory map: callers must not modify it.
	Data func() ([]byte, error)
}

// NumElements is the product of the shape (1 for a 0-dim tensor).
func (t *Tensor) NumElements() int { return NumElements(t.Shape) }

// NumBytes is the size of the tensor's data in bytes.
func (t *Tensor) NumBytes() int64 { return int64(t.NumElements()) * int64(t.DType.Size()) }

// Float32 reads the tensor and converts every element to float32
// (bf16/f16 exactly, f64 and integers rounded to nearest).
func (t *Tensor) Float32() ([]float32, error) {
	raw, err := t.Data()
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	out := make([]float32, t.NumElements())
	if err := ToFloat32(t.DType, raw, out); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	return out, nil
}

// Float64 reads the tensor and converts every element to float64.
func (t *Tensor) Float64() ([]float64, error) {
	raw, err := t.Data()
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	n := t.NumElements()
	if len(raw) != n*t.DType.Size() {
		return nil, fmt.Errorf("tensor %s: %d bytes, want %d", t.Name, len(raw), n*t.DType.Size())
	}
	out := make([]float64, n)
	if t.DType == F64 {
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return out, nil
	}
	tmp := make([]float32, n)
	if err := ToFloat32(t.DType, raw, tmp); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	for i, v := range tmp {
		out[i] = float64(v)
	}
	return out, nil
}

// NumElements is the product of shape (1 for an empty shape).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// ToFloat32 converts raw little-endian elements of type d into dst, which
// must hold exactly len(raw)/d.Size() values.
func ToFloat32(d DType, raw []byte, dst []float32) error {
	sz := d.Size()
	if sz == 0 {
		return fmt.Errorf("cannot convert dtype %v to float32", d)
	}
	if len(raw) != len(dst)*sz {
		return fmt.Errorf("%d bytes of %v for %d elements", len(raw), d, len(dst))
	}
	le := binary.LittleEndian
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case BF16:
		bf16ToF32(dst, raw)
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(le.Uint16(raw[2*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(raw[8*i:])))
		}
	case I8:
		for i := range dst {
			dst[i] = float32(int8(raw[i]))
		}
	case U8, Bool:
		for i := range dst {
			dst[i] = float32(raw[i])
		}
	case I16:
		for i := range dst {
			dst[i] = float32(int16(le.Uint16(raw[2*i:])))
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(raw[4*i:])))
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(raw[8*i:])))
		}
	default:
		return fmt.Errorf("cannot convert dtype %v to float32", d)
	}
	return nil
}

// BF16ToF32 widens a bfloat16 bit pattern exactly.
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// F32ToBF16 rounds to nearest-even (NaN stays NaN), as torch does.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// F16ToF32 widens an IEEE binary16 bit pattern exactly.
func F16ToF32(h uint16) float32 { return float16.Frombits(h).Float32() }

// F32ToF16 rounds to the nearest binary16 (ties to even), as ARM's hardware
// conversion and torch do.
func F32ToF16(f float32) uint16 { return float16.Fromfloat32(f).Bits() }

// RoundF16 rounds a float32 to the nearest binary16 value and widens it back.
func RoundF16(f float32) float32 { return F16ToF32(F32ToF16(f)) }

// Float32Bytes encodes values as little-endian float32 bytes.
func Float32Bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

// Float32sFromBytes decodes little-endian float32 bytes.
func Float32sFromBytes(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of float32", len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// FromBytes makes an in-memory tensor whose Data returns b.
func FromBytes(name string, d DType, shape []int, b []byte) *Tensor {
	return &Tensor{Name: name, DType: d, Shape: shape, Data: func() ([]byte, error) { return b, nil }}
}

// FromFloat32 makes an in-memory F32 tensor.
func FromFloat32(name string, shape []int, v []float32) *Tensor {
	return FromBytes(name, F32, shape, Float32Bytes(v))
}
