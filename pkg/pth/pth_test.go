package pth

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/tensor"
)

const fixtures = "../../testdata/formats"

func open(t *testing.T, name string) *File {
	t.Helper()
	f, err := Open(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func data(t *testing.T, x *tensor.Tensor) []byte {
	t.Helper()
	b, err := x.Data()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func f64s(t *testing.T, x *tensor.Tensor) []float64 {
	t.Helper()
	v, err := x.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTV10(t *testing.T) {
	for _, name := range []string{"tv10.pth", "tv10_legacy.pth"} {
		t.Run(name, func(t *testing.T) {
			f := open(t, name)
			ts, err := StateDict(f.Root)
			if err != nil {
				t.Fatal(err)
			}
			want := []struct {
				name  string
				dt    tensor.DType
				shape []int
				hex   []byte
			}{
				{"a.weight", tensor.I8, []int{3, 2}, []byte{0x32, 0x00, 0x81, 0x02, 0x00, 0xfe}},
				{"a.weight.scale", tensor.F32, []int{}, []byte{0x0a, 0xd7, 0x23, 0x3c}},
				{"a.bias", tensor.F32, []int{2}, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}},
				{"a.input_scale", tensor.F32, []int{}, []byte{0, 0, 0x60, 0x40}},
				{"a.clip_input", tensor.Bool, []int{}, []byte{1}},
				{"a.clip_output", tensor.Bool, []int{}, []byte{0}},
			}
			if len(ts) != len(want) {
				t.Fatalf("%d tensors, want %d", len(ts), len(want))
			}
			for i, w := range want {
				g := ts[i]
				if g.Name != w.name || g.DType != w.dt || !reflect.DeepEqual(g.Shape, w.shape) || !bytes.Equal(data(t, g), w.hex) {
					t.Errorf("tensor %d = %s %v %v % x, want %s %v %v % x", i, g.Name, g.DType, g.Shape, data(t, g), w.name, w.dt, w.shape, w.hex)
				}
			}
		})
	}
}

func TestDTypesAndViews(t *testing.T) {
	f := open(t, "dtypes.pth")
	d, ok := f.Root.(*Dict)
	if !ok || !d.Ordered {
		t.Fatalf("root %T (ordered=%v), want an OrderedDict", f.Root, ok && d.Ordered)
	}
	get := func(k string) *tensor.Tensor {
		v, ok := d.Get(k)
		if !ok {
			t.Fatalf("no key %q", k)
		}
		x, ok := v.(*tensor.Tensor)
		if !ok {
			t.Fatalf("%q is %T", k, v)
		}
		return x
	}
	seq := func(n int, f func(i int) float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	base := func(i int) float64 { return float64(i-6) / 4 }
	cases := []struct {
		key   string
		dt    tensor.DType
		shape []int
		want  []float64
	}{
		{"f32", tensor.F32, []int{3, 4}, seq(12, base)},
		{"f16", tensor.F16, []int{3, 4}, seq(12, base)},
		{"bf16", tensor.BF16, []int{3, 4}, seq(12, base)},
		{"f64", tensor.F64, []int{3, 4}, seq(12, base)},
		{"i8", tensor.I8, []int{3, 4}, seq(12, func(i int) float64 { return float64(i - 6) })},
		{"u8", tensor.U8, []int{3, 4}, seq(12, func(i int) float64 { return float64(i) })},
		{"i16", tensor.I16, []int{3, 4}, seq(12, func(i int) float64 { return float64(i-6) * 1000 })},
		{"i32", tensor.I32, []int{3, 4}, seq(12, func(i int) float64 { return float64(i-6) * 1e8 })},
		{"bool", tensor.Bool, []int{3, 4}, seq(12, func(i int) float64 { return map[bool]float64{true: 1}[i > 6] })},
		{"scalar", tensor.F64, []int{}, []float64{2.5}},
		{"transposed", tensor.F32, []int{4, 3, 2}, seq(24, func(i int) float64 { a, b, c := i/6, i/2%3, i%2; return float64(c*12 + b*4 + a) })},
		{"sliced", tensor.F32, []int{2, 2, 2}, seq(8, func(i int) float64 { a, b, c := i/4, i/2%2, i%2; return float64(a*12 + (b+1)*4 + 2*c) })},
		{"shared_a", tensor.F32, []int{3, 4}, seq(12, func(i int) float64 { return float64(i) })},
		{"shared_b", tensor.F32, []int{4}, seq(4, func(i int) float64 { return float64(20 + i) })},
		{"empty", tensor.F32, []int{0, 3}, []float64{}},
	}
	for _, c := range cases {
		x := get(c.key)
		if x.DType != c.dt || !reflect.DeepEqual(x.Shape, c.shape) {
			t.Errorf("%s: %v %v, want %v %v", c.key, x.DType, x.Shape, c.dt, c.shape)
			continue
		}
		if g := f64s(t, x); !reflect.DeepEqual(g, c.want) {
			t.Errorf("%s = %v, want %v", c.key, g, c.want)
		}
	}
	// int64 beyond float precision: compare raw.
	i64 := data(t, get("i64"))
	for i := 0; i < 12; i++ {
		if g, w := int64(binary.LittleEndian.Uint64(i64[8*i:])), int64(i-6)*1e15; g != w {
			t.Errorf("i64[%d] = %d, want %d", i, g, w)
		}
	}
	nv, _ := d.Get("nested")
	n, ok := nv.(*Dict)
	if !ok || n.Ordered {
		t.Fatalf("nested is %T", nv)
	}
	if k := n.Keys; !reflect.DeepEqual(k, []any{"x", "n", "s", "none", "t", "l"}) {
		t.Errorf("nested keys %v", k)
	}
	if v, _ := n.Get("n"); v != int64(7) {
		t.Errorf("n = %v", v)
	}
	if v, _ := n.Get("s"); v != "str" {
		t.Errorf("s = %v", v)
	}
	if v, ok := n.Get("none"); !ok || v != nil {
		t.Errorf("none = %v", v)
	}
	if v, _ := n.Get("t"); !reflect.DeepEqual(v, Tuple{int64(1), 2.5, true}) {
		t.Errorf("t = %#v", v)
	}
	lv, _ := n.Get("l")
	l, ok := lv.([]any)
	if !ok || len(l) != 2 || l[1] != false {
		t.Fatalf("l = %#v", lv)
	}
	if g := f64s(t, l[0].(*tensor.Tensor)); !reflect.DeepEqual(g, []float64{3}) {
		t.Errorf("l[0] = %v", g)
	}
	// StateDict flattens the nested dict (spec Q15 fix) and skips non-tensors.
	ts, err := StateDict(f.Root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range ts {
		names = append(names, x.Name)
	}
	if got := strings.Join(names, ","); got != "f32,f16,bf16,f64,i8,u8,i16,i32,i64,bool,scalar,transposed,sliced,shared_a,shared_b,empty,nested.x" {
		t.Errorf("state dict names %s", got)
	}
}

func TestRotationFileOnCUDA(t *testing.T) {
	f := open(t, "rot_cuda.pth")
	d := f.Root.(*Dict)
	r, _ := d.Get("R")
	rt, ok := r.(*tensor.Tensor)
	if !ok || rt.DType != tensor.F64 || !reflect.DeepEqual(rt.Shape, []int{8, 8}) {
		t.Fatalf("R = %#v", r)
	}
	rv, _ := d.Get("R_v")
	l, ok := rv.([]any)
	if !ok || len(l) != 2 {
		t.Fatalf("R_v = %#v", rv)
	}
	for _, x := range l {
		xt := x.(*tensor.Tensor)
		if xt.DType != tensor.F64 || !reflect.DeepEqual(xt.Shape, []int{4, 4}) || len(data(t, xt)) != 128 {
			t.Errorf("R_v item %v %v", xt.DType, xt.Shape)
		}
	}
}

func TestParameter(t *testing.T) {
	f := open(t, "param.pth")
	x, ok := f.Root.(*tensor.Tensor)
	if !ok {
		t.Fatalf("root %T", f.Root)
	}
	if g := f64s(t, x); !reflect.DeepEqual(g, []float64{1, 2, 3, 4}) {
		t.Errorf("param = %v", g)
	}
	if _, err := StateDict(f.Root); err == nil {
		t.Error("StateDict of a bare tensor: no error")
	}
}

func TestForbiddenGlobal(t *testing.T) {
	_, err := Open(filepath.Join(fixtures, "evil.pth"))
	if err == nil || !strings.Contains(err.Error(), "posix.system is not allowed") {
		t.Fatalf("evil.pth: err = %v, want a rejected global", err)
	}
	for _, g := range []string{"builtins\neval", "os\nsystem", "subprocess\nPopen", "torch\nload", "collections\ndefaultdict"} {
		pk := append([]byte{0x80, 2, 'c'}, g+"\n"...)
		pk = append(pk, ')', 'R', '.')
		if _, err := (&rebuilder{}).unpickler(pk).load(); err == nil || !strings.Contains(err.Error(), "is not allowed") {
			t.Errorf("global %q: err = %v", g, err)
		}
	}
}

func TestCorruptFiles(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(fixtures, "tv10.pth"))
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := os.ReadFile(filepath.Join(fixtures, "tv10_legacy.pth"))
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	root := &Dict{Keys: []any{"x"}, Values: []any{tensor.FromFloat32("", []int{2}, []float32{1, 2})}}
	if err := Write(&w, "m", root); err != nil {
		t.Fatal(err)
	}
	// A pickle whose storage numel disagrees with the record length.
	bad := bytes.Replace(w.Bytes(), []byte("X\x03\x00\x00\x00cpuK\x02"), []byte("X\x03\x00\x00\x00cpuK\x03"), 1)
	// A view reaching beyond its storage: size (2,) -> (3,)
	badView := bytes.Replace(w.Bytes(), []byte("K\x00K\x02\x85K\x01\x85"), []byte("K\x00K\x03\x85K\x01\x85"), 1)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a PyTorch file"},
		{"truncated zip", good[:len(good)-100], "zip archive"},
		{"truncated legacy", legacy[:len(legacy)-3], "truncated"},
		{"numel mismatch", bad, "want 12"},
		{"view out of storage", badView, "reaches element"},
		{"garbage", []byte("hello world, not torch"), "not a PyTorch file"},
	}
	if bytes.Equal(bad, w.Bytes()) || bytes.Equal(badView, w.Bytes()) {
		t.Fatal("patches did not apply")
	}
	for _, c := range cases {
		_, err := Parse(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestUnknownStorageDType(t *testing.T) {
	var w bytes.Buffer
	p := &pickler{}
	p.buf = append(p.buf, opProto, 2)
	if err := p.value(tensor.FromFloat32("", []int{1}, []float32{1}), 0); err != nil {
		t.Fatal(err)
	}
	p.buf = append(p.buf, opStop)
	w.Write(p.buf)
	pk := bytes.Replace(w.Bytes(), []byte("torch\nFloatStorage\n"), []byte("torch\nComplexFloatStorage\n"), 1)
	r := newRebuilder()
	r.storageBytes = func(string) ([]byte, error) { return make([]byte, 8), nil }
	_, err := r.unpickler(pk).load()
	if err == nil || !strings.Contains(err.Error(), "unsupported storage dtype torch.ComplexFloatStorage") {
		t.Errorf("err = %v", err)
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	i8 := tensor.FromBytes("", tensor.I8, []int{3, 2}, []byte{0x32, 0, 0x81, 2, 0, 0xfe})
	f64 := tensor.FromBytes("", tensor.F64, []int{2}, binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, math.Float64bits(1.5)), math.Float64bits(-2)))
	scalar := tensor.FromFloat32("", []int{}, []float32{0.25})
	b := tensor.FromBytes("", tensor.Bool, []int{}, []byte{1})
	big := tensor.FromBytes("", tensor.I64, []int{1}, binary.LittleEndian.AppendUint64(nil, uint64(1)<<60))
	inner := &Dict{Keys: []any{"z", "a"}, Values: []any{scalar, b}, Ordered: true}
	root := &Dict{Keys: []any{"w", "list", "inner", "n", "neg", "huge", "s", "t", "none", "big"},
		Values: []any{i8, []any{f64, f64}, inner, int64(300), int64(-5), int64(-1) << 40, "héllo", Tuple{int64(1), true}, nil, big}}
	p := filepath.Join(t.TempDir(), "out.pth")
	if err := Save(p, root); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Prefix != "out" {
		t.Errorf("prefix %q", f.Prefix)
	}
	got := f.Root.(*Dict)
	if !reflect.DeepEqual(got.Keys, root.Keys) {
		t.Fatalf("keys %v", got.Keys)
	}
	for i, k := range []string{"n", "neg", "huge", "s", "t", "none"} {
		g, _ := got.Get(k)
		w, _ := root.Get(k)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%d %s = %#v, want %#v", i, k, g, w)
		}
	}
	all := Tensors(got)
	wantNames := []string{"w", "list.0", "list.1", "inner.z", "inner.a", "big"}
	wantTs := []*tensor.Tensor{i8, f64, f64, scalar, b, big}
	if len(all) != len(wantNames) {
		t.Fatalf("%d tensors", len(all))
	}
	for i, x := range all {
		if x.Name != wantNames[i] || x.DType != wantTs[i].DType || !reflect.DeepEqual(x.Shape, wantTs[i].Shape) || !bytes.Equal(data(t, x), data(t, wantTs[i])) {
			t.Errorf("tensor %d: %s %v %v", i, x.Name, x.DType, x.Shape)
		}
	}
	if in, _ := got.Get("inner"); !in.(*Dict).Ordered {
		t.Error("inner lost OrderedDict")
	}
	// Data is 64-byte aligned in the archive, as torch writes it.
	raw, _ := os.ReadFile(p)
	if i := bytes.Index(raw, []byte{0x32, 0, 0x81, 2, 0, 0xfe}); i%64 != 0 {
		t.Errorf("int8 record at offset %d, not 64-byte aligned", i)
	}
}

func TestHostilePickles(t *testing.T) {
	dag := []byte{0x80, 2, ']', 'q', 0}
	for i := 1; i < 60; i++ {
		dag = append(dag, ']', '(', 'h', byte(i-1), 'h', byte(i-1), 'e', 'q', byte(i))
	}
	dag = append(dag, '.')
	self := []byte{0x80, 2, ']', 'q', 0, 'h', 0, 'a', '.'}
	deep := []byte{0x80, 2}
	for i := 0; i < 2000; i++ {
		deep = append(deep, ']')
	}
	for i := 0; i < 1999; i++ {
		deep = append(deep, 'a')
	}
	deep = append(deep, '.')
	cases := []struct {
		name string
		pk   []byte
		want string
	}{
		{"shared-reference DAG", dag, "expands to more than"},
		{"list containing itself", self, "recursive list"},
		{"deep nesting", deep, "nested deeper"},
		{"missing memo", []byte{0x80, 2, 'h', 5, '.'}, "memo key 5"},
		{"unknown opcode", []byte{0x80, 2, 0xff, '.'}, "unsupported pickle opcode"},
		{"no STOP", []byte{0x80, 2, 'N'}, "no STOP"},
		{"non-storage persistent id", []byte{0x80, 2, 'X', 1, 0, 0, 0, 'x', 0x85, 'Q', '.'}, "want ('storage'"},
	}
	for _, c := range cases {
		_, err := newRebuilder().unpickler(c.pk).load()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}
