// Command gen_formats writes test inputs for qnnkit's format tools:
//
//	go run ./scripts/gen_formats pth OUTDIR
//	    PyTorch files written by pkg/pth (dict order, OrderedDict, lists of
//	    tensors, 0-dim and bool tensors, the export's int8 [in,out] weight,
//	    every dtype), each with a sidecar OUT.expect.json describing the
//	    in-memory object (tensor bytes in base64), for scripts/interop_formats.py
//	    to compare with torch.load(weights_only=True).
//	go run ./scripts/gen_formats synth --bytes=2000000000 --seed=1 OUT.safetensors
//	    a seeded bf16 safetensors checkpoint with Qwen1.5-1.8B tensor names
//	    and shapes (hidden 2048, intermediate 5504, vocab 151936) and as
//	    many layers as fit the byte budget, for scripts/bench_convert.sh.
//	go run ./scripts/gen_formats topth IN.safetensors OUT.bin
//	    the same tensors re-saved as a PyTorch zip file (pkg/pth), in file order.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gen_formats pth OUTDIR | synth [--bytes=N] [--seed=S] OUT.safetensors | topth IN.safetensors OUT.bin")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "pth":
		if len(os.Args) != 3 {
			err = fmt.Errorf("usage: gen_formats pth OUTDIR")
			break
		}
		err = writePth(os.Args[2])
	case "synth":
		fs := flag.NewFlagSet("synth", flag.ExitOnError)
		n := fs.Int64("bytes", 2_000_000_000, "approximate checkpoint size in bytes")
		seed := fs.Uint64("seed", 1, "PRNG seed")
		fs.Parse(os.Args[2:])
		if fs.NArg() != 1 {
			err = fmt.Errorf("usage: gen_formats synth [--bytes=N] [--seed=S] OUT.safetensors")
			break
		}
		err = synth(fs.Arg(0), *n, *seed)
	case "topth":
		if len(os.Args) != 4 {
			err = fmt.Errorf("usage: gen_formats topth IN.safetensors OUT.bin")
			break
		}
		err = toPth(os.Args[2], os.Args[3])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen_formats:", err)
		os.Exit(1)
	}
}

func f32(shape []int, f func(i int) float32) *tensor.Tensor {
	v := make([]float32, tensor.NumElements(shape))
	for i := range v {
		v[i] = f(i)
	}
	return tensor.FromFloat32("", shape, v)
}

func raw(dt tensor.DType, shape []int, f func(b []byte, i int)) *tensor.Tensor {
	n := tensor.NumElements(shape)
	b := make([]byte, n*dt.Size())
	for i := 0; i < n; i++ {
		f(b[i*dt.Size():], i)
	}
	return tensor.FromBytes("", dt, shape, b)
}

func f64(shape []int, f func(i int) float64) *tensor.Tensor {
	return raw(tensor.F64, shape, func(b []byte, i int) { binary.LittleEndian.PutUint64(b, math.Float64bits(f(i))) })
}

// objects are the Go-written files.
func objects() map[string]any {
	le := binary.LittleEndian
	d := func(ordered bool, kv ...any) *pth.Dict {
		x := &pth.Dict{Ordered: ordered}
		for i := 0; i < len(kv); i += 2 {
			x.Keys = append(x.Keys, kv[i])
			x.Values = append(x.Values, kv[i+1])
		}
		return x
	}
	rv := []any{}
	for k := 0; k < 3; k++ {
		rv = append(rv, f64([]int{4, 4}, func(i int) float64 { return float64(k) + float64(i)/7 }))
	}
	return map[string]any{
		// insertion order that is not alphabetical
		"go_dict.pth": d(false, "z.weight", f32([]int{2, 3}, func(i int) float32 { return float32(i) - 2.5 }),
			"a.bias", f32([]int{3}, func(i int) float32 { return 1 / float32(i+1) }),
			"m", f32([]int{1, 1, 2}, func(i int) float32 { return -float32(i) })),
		"go_ordered.pth": d(true, "layer.1", d(true, "w", f32([]int{2}, func(i int) float32 { return 7 })),
			"layer.0", d(true, "w", f32([]int{2}, func(i int) float32 { return 3 }))),
		// the rotation file's shape: a list of tensors
		"go_rot.pth": d(false, "R", f64([]int{8, 8}, func(i int) float64 { return math.Sin(float64(i)) }), "R_v", rv),
		// QNN export pieces: int8 [in,out] contiguous, 0-dim f32 scale, 0-dim bools
		"go_qnn.pth": d(false,
			"a.weight", tensor.FromBytes("", tensor.I8, []int{3, 2}, []byte{50, 0, 0x81, 2, 0, 0xfe}),
			"a.weight.scale", f32([]int{}, func(int) float32 { return 0.01 }),
			"a.bias", f32([]int{2}, func(i int) float32 { return []float32{1, -2}[i] }),
			"a.input_scale", f32([]int{}, func(int) float32 { return 3.5 }),
			"a.clip_input", tensor.FromBytes("", tensor.Bool, []int{}, []byte{1}),
			"a.clip_output", tensor.FromBytes("", tensor.Bool, []int{}, []byte{0})),
		"go_dtypes.pth": d(false,
			"f16", raw(tensor.F16, []int{5}, func(b []byte, i int) { le.PutUint16(b, tensor.F32ToF16(float32(i)*0.3-1)) }),
			"bf16", raw(tensor.BF16, []int{5}, func(b []byte, i int) { le.PutUint16(b, tensor.F32ToBF16(float32(i)*0.3-1)) }),
			"u8", raw(tensor.U8, []int{4}, func(b []byte, i int) { b[0] = byte(250 + i) }),
			"i16", raw(tensor.I16, []int{2, 2}, func(b []byte, i int) { le.PutUint16(b, uint16(int16(i*1000-1500))) }),
			"i32", raw(tensor.I32, []int{3}, func(b []byte, i int) { le.PutUint32(b, uint32(int32(-i*100000000))) }),
			"i64", raw(tensor.I64, []int{2}, func(b []byte, i int) { le.PutUint64(b, uint64(int64(i)<<50-7)) }),
			"bool", raw(tensor.Bool, []int{2, 2}, func(b []byte, i int) { b[0] = byte(i % 2) }),
			"f64_0d", f64([]int{}, func(int) float64 { return math.Pi }),
			"empty", f32([]int{0, 4}, nil),
			"meta", d(false, "step", int64(12), "big", int64(-1)<<40, "name", "qnnkit", "flag", true, "none", nil,
				"pair", pth.Tuple{int64(1), "x"})),
		"go_list.pth": []any{f32([]int{2}, func(i int) float32 { return float32(i) }), f32([]int{}, func(int) float32 { return 5 })},
	}
}

// expect renders v as the sidecar JSON tree.
func expect(v any) any {
	type node = map[string]any
	switch x := v.(type) {
	case nil:
		return node{"type": "none"}
	case bool:
		return node{"type": "bool", "value": x}
	case int64:
		return node{"type": "int", "value": strconv.FormatInt(x, 10)}
	case string:
		return node{"type": "str", "value": x}
	case []any:
		items := []any{}
		for _, it := range x {
			items = append(items, expect(it))
		}
		return node{"type": "list", "items": items}
	case pth.Tuple:
		items := []any{}
		for _, it := range x {
			items = append(items, expect(it))
		}
		return node{"type": "tuple", "items": items}
	case *pth.Dict:
		ks, vs := []any{}, []any{}
		for i := range x.Keys {
			ks = append(ks, expect(x.Keys[i]))
			vs = append(vs, expect(x.Values[i]))
		}
		t := "dict"
		if x.Ordered {
			t = "ordereddict"
		}
		return node{"type": t, "keys": ks, "values": vs}
	case *tensor.Tensor:
		b, _ := x.Data()
		shape := x.Shape
		if shape == nil {
			shape = []int{}
		}
		return node{"type": "tensor", "dtype": x.DType.String(), "shape": shape, "data": base64.StdEncoding.EncodeToString(b)}
	}
	panic(fmt.Sprintf("unexpected %T", v))
}

func writePth(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, obj := range objects() {
		p := filepath.Join(dir, name)
		if err := pth.Save(p, obj); err != nil {
			return err
		}
		b, err := json.Marshal(expect(obj))
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(p+".expect.json", b); err != nil {
			return err
		}
	}
	return nil
}

// toPth re-saves a safetensors file's tensors as a PyTorch state dict.
func toPth(in, out string) error {
	ts, m, err := checkpoint.OpenSafetensors(in)
	if err != nil {
		return err
	}
	defer m.Close()
	d := &pth.Dict{Ordered: true}
	for _, t := range ts {
		d.Keys = append(d.Keys, t.Name)
		d.Values = append(d.Values, t)
	}
	return pth.Save(out, d)
}

// synth writes a seeded bf16 safetensors file with Qwen1.5-1.8B shapes.
func synth(out string, budget int64, seed uint64) error {
	const hidden, inter, vocab = 2048, 5504, 151936
	type spec struct {
		name  string
		shape []int
	}
	fixed := []spec{{"model.embed_tokens.weight", []int{vocab, hidden}}, {"model.norm.weight", []int{hidden}}, {"lm_head.weight", []int{vocab, hidden}}}
	layer := func(l int) []spec {
		p := fmt.Sprintf("model.layers.%d.", l)
		return []spec{
			{p + "input_layernorm.weight", []int{hidden}},
			{p + "self_attn.q_proj.weight", []int{hidden, hidden}}, {p + "self_attn.q_proj.bias", []int{hidden}},
			{p + "self_attn.k_proj.weight", []int{hidden, hidden}}, {p + "self_attn.k_proj.bias", []int{hidden}},
			{p + "self_attn.v_proj.weight", []int{hidden, hidden}}, {p + "self_attn.v_proj.bias", []int{hidden}},
			{p + "self_attn.o_proj.weight", []int{hidden, hidden}},
			{p + "post_attention_layernorm.weight", []int{hidden}},
			{p + "mlp.gate_proj.weight", []int{inter, hidden}}, {p + "mlp.up_proj.weight", []int{inter, hidden}},
			{p + "mlp.down_proj.weight", []int{hidden, inter}},
		}
	}
	size := func(ss []spec) int64 {
		var n int64
		for _, s := range ss {
			n += int64(tensor.NumElements(s.shape)) * 2
		}
		return n
	}
	specs := append([]spec{}, fixed[:1]...)
	total := size(fixed)
	for l := 0; l < 24 && total < budget; l++ {
		specs = append(specs, layer(l)...)
		total += size(layer(l))
	}
	specs = append(specs, fixed[1:]...)
	// header: name -> dtype, shape, offsets (JSON object in file order)
	hdr := []byte("{")
	var off int64
	for i, s := range specs {
		n := int64(tensor.NumElements(s.shape)) * 2
		sh, _ := json.Marshal(s.shape)
		if i > 0 {
			hdr = append(hdr, ',')
		}
		hdr = fmt.Appendf(hdr, `"%s":{"dtype":"BF16","shape":%s,"data_offsets":[%d,%d]}`, s.name, sh, off, off+n)
		off += n
	}
	hdr = append(hdr, '}')
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	f, err := atomicfile.Create(out)
	if err != nil {
		return err
	}
	defer f.Abort()
	w := bufio.NewWriterSize(f, 4<<20)
	binary.Write(w, binary.LittleEndian, uint64(len(hdr)))
	w.Write(hdr)
	// xorshift64* → bf16 values of magnitude ~[2^-8, 2^0), random sign.
	x := seed*0x9E3779B97F4A7C15 | 1
	buf := make([]byte, 1<<20)
	for left := off; left > 0; {
		n := min(int64(len(buf)), left)
		for i := int64(0); i < n; i += 8 {
			x ^= x >> 12
			x ^= x << 25
			x ^= x >> 27
			r := x * 0x2545F4914F6CDD1D
			for k := int64(0); k < 4 && i+2*k < n; k++ {
				h := uint16(r >> (16 * k))
				v := h&0x8000 | (0x3b00+(h&0x0700))&0x7f80 | h&0x007f
				binary.LittleEndian.PutUint16(buf[i+2*k:], v)
			}
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	fmt.Printf("%s: %d tensors, %d data bytes, %d layers\n", out, len(specs), off, (len(specs)-3)/12)
	return nil
}
