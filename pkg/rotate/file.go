package rotate

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// Save writes the R file in the torch format mllm writes (spec §3.6):
// torch.save({"R": float64 [n,n], "R_v": [float64 [hd,hd]] * L}). A shared
// R_v is written as a single tensor and a nil R_v as None, both of which
// mllm's rotate_model accepts. The file is written atomically.
func (r *Rotation) Save(path string) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("save R file %s: %w", path, err)
	}
	var rv any
	switch {
	case r.Rv == nil:
		rv = nil
	case r.RvShared:
		rv = f64Tensor("R_v", r.HeadDim, r.Rv[0])
	default:
		l := make([]any, len(r.Rv))
		for i, m := range r.Rv {
			l[i] = f64Tensor(fmt.Sprintf("R_v[%d]", i), r.HeadDim, m)
		}
		rv = l
	}
	root := &pth.Dict{Keys: []any{"R", "R_v"}, Values: []any{f64Tensor("R", r.N, r.R), rv}}
	if err := pth.Save(path, root); err != nil {
		return fmt.Errorf("save R file %s: %w", path, err)
	}
	return nil
}

func f64Tensor(name string, n int, v []float64) *tensor.Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return tensor.FromBytes(name, tensor.F64, []int{n, n}, b)
}

// Load reads an R file written by mllm (torch.save; tensors on "cuda:0"
// load too), by torch or by Save. "R" must be a square matrix; "R_v" a
// list (or tuple) of square matrices, a single matrix (shared by every
// layer), or None. Values of any floating dtype are widened to float64.
// The qwen2-vl keys R_vit and R_vs_vit, if present, are not read.
func Load(path string) (*Rotation, error) {
	f, err := pth.Open(path)
	if err != nil {
		return nil, fmt.Errorf("R file: %w", err)
	}
	defer f.Close()
	rot, err := fromRoot(f.Root)
	if err != nil {
		return nil, fmt.Errorf("R file %s: %w", path, err)
	}
	rot.Source = path
	return rot, nil
}

func fromRoot(root any) (*Rotation, error) {
	d, ok := root.(*pth.Dict)
	if !ok {
		return nil, fmt.Errorf("the saved object is a %T, want a dict with keys \"R\" and \"R_v\"", root)
	}
	rv, ok := d.Get("R")
	if !ok {
		return nil, fmt.Errorf("key \"R\" is missing")
	}
	rt, ok := rv.(*tensor.Tensor)
	if !ok {
		return nil, fmt.Errorf("\"R\" is a %T, want a tensor", rv)
	}
	n, r, err := square("R", rt)
	if err != nil {
		return nil, err
	}
	rot := &Rotation{R: r, N: n}
	vv, ok := d.Get("R_v")
	if !ok {
		return nil, fmt.Errorf("key \"R_v\" is missing (mllm's loader requires it)")
	}
	var list []any
	switch x := vv.(type) {
	case nil:
	case *tensor.Tensor:
		list, rot.RvShared = []any{x}, true
	case []any:
		list = x
		if len(x) == 0 {
			return nil, fmt.Errorf("\"R_v\" is an empty list")
		}
	case pth.Tuple:
		list = []any(x)
		if len(x) == 0 {
			return nil, fmt.Errorf("\"R_v\" is an empty tuple")
		}
	default:
		return nil, fmt.Errorf("\"R_v\" is a %T, want a list of tensors", vv)
	}
	for i, it := range list {
		t, ok := it.(*tensor.Tensor)
		name := fmt.Sprintf("R_v[%d]", i)
		if rot.RvShared {
			name = "R_v"
		}
		if !ok {
			return nil, fmt.Errorf("%s is a %T, want a tensor", name, it)
		}
		hd, m, err := square(name, t)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			rot.HeadDim = hd
		} else if hd != rot.HeadDim {
			return nil, fmt.Errorf("%s is %dx%d but R_v[0] is %dx%d", name, hd, hd, rot.HeadDim, rot.HeadDim)
		}
		rot.Rv = append(rot.Rv, m)
	}
	if err := rot.Validate(); err != nil {
		return nil, err
	}
	return rot, nil
}

func square(name string, t *tensor.Tensor) (int, []float64, error) {
	if len(t.Shape) != 2 || t.Shape[0] != t.Shape[1] || t.Shape[0] == 0 {
		return 0, nil, fmt.Errorf("%s has shape %v, want a square matrix", name, t.Shape)
	}
	if !t.DType.IsFloat() {
		return 0, nil, fmt.Errorf("%s has dtype %v, want a floating type", name, t.DType)
	}
	v, err := t.Float64()
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", name, err)
	}
	return t.Shape[0], v, nil
}
