package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

const formats = "../../testdata/formats"

// tv10 is spec §7 TV10's converter.py output (246 bytes).
const tv10 = `2c4e 0000 d200 0000 0000 0000 0800 0000 612e 7765 6967 6874 0600 0000 0000 0000
de00 0000 0000 0000 1000 0000 0e00 0000 612e 7765 6967 6874 2e73 6361 6c65 0400
0000 0000 0000 e400 0000 0000 0000 0000 0000 0600 0000 612e 6269 6173 0800 0000
0000 0000 e800 0000 0000 0000 0000 0000 0d00 0000 612e 696e 7075 745f 7363 616c
6504 0000 0000 0000 00f0 0000 0000 0000 0000 0000 000c 0000 0061 2e63 6c69 705f
696e 7075 7401 0000 0000 0000 00f4 0000 0000 0000 0010 0000 000d 0000 0061 2e63
6c69 705f 6f75 7470 7574 0100 0000 0000 0000 f500 0000 0000 0000 1000 0000 3200
8102 00fe 0ad7 233c 0000 803f 0000 00c0 0000 6040 0100`

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runConvert(t *testing.T, args ...string) error {
	t.Helper()
	return newCommand().Run(context.Background(), append([]string{"convert", "--quiet"}, args...))
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goTV10 writes TV10's input with pkg/pth (the int8 weight as a contiguous
// [3,2] tensor, as the export writes it).
func goTV10(t *testing.T, path string) {
	t.Helper()
	f32 := func(v ...float32) []byte { return tensor.Float32Bytes(v) }
	root := &pth.Dict{
		Keys: []any{"a.weight", "a.weight.scale", "a.bias", "a.input_scale", "a.clip_input", "a.clip_output"},
		Values: []any{
			tensor.FromBytes("", tensor.I8, []int{3, 2}, []byte{50, 0, 0x81, 2, 0, 0xfe}),
			tensor.FromBytes("", tensor.F32, []int{}, f32(0.01)),
			tensor.FromBytes("", tensor.F32, []int{2}, f32(1, -2)),
			tensor.FromBytes("", tensor.F32, []int{}, f32(3.5)),
			tensor.FromBytes("", tensor.Bool, []int{}, []byte{1}),
			tensor.FromBytes("", tensor.Bool, []int{}, []byte{0}),
		},
	}
	if err := pth.Save(path, root); err != nil {
		t.Fatal(err)
	}
}

func TestTV10(t *testing.T) {
	dir := t.TempDir()
	goPth := filepath.Join(dir, "go_tv10.pth")
	goTV10(t, goPth)
	want := unhex(t, tv10)
	for _, in := range []string{filepath.Join(formats, "tv10.pth"), filepath.Join(formats, "tv10_legacy.pth"), goPth} {
		out := filepath.Join(dir, filepath.Base(in)+".mllm")
		if err := runConvert(t, "--input_model="+in, "--output_model="+out, "--type=torch"); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, out); !bytes.Equal(got, want) {
			t.Errorf("%s: output differs from TV10\n got % x\nwant % x", in, got, want)
		}
	}
}

// writeSafetensors writes a small safetensors file (header in the given
// order, data in the same order).
func writeSafetensors(t *testing.T, path string, names []string, dts []string, shapes [][]int, data [][]byte) {
	t.Helper()
	var hdr bytes.Buffer
	hdr.WriteString("{")
	off := 0
	for i, n := range names {
		if i > 0 {
			hdr.WriteString(",")
		}
		sh, _ := json.Marshal(shapes[i])
		hdr.WriteString(`"` + n + `":{"dtype":"` + dts[i] + `","shape":` + string(sh) + `,"data_offsets":[` +
			itoa(off) + "," + itoa(off+len(data[i])) + "]}")
		off += len(data[i])
	}
	hdr.WriteString("}")
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(hdr.Len()))
	b.Write(hdr.Bytes())
	for _, d := range data {
		b.Write(d)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func le16(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

func TestSafetensorsOrderAndDTypes(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "m.safetensors")
	i64 := binary.LittleEndian.AppendUint64(nil, uint64(1<<24+1)) // rounds to 2^24 as float32
	writeSafetensors(t, in,
		[]string{"z.w", "b_weight", "a.u8", "m.bool", "c.i64"},
		[]string{"BF16", "F16", "U8", "BOOL", "I64"},
		[][]int{{2}, {1}, {2}, {1}, {1}},
		[][]byte{le16(0x3f80, 0xc000), le16(0x3c00), {7, 255}, {1}, i64})
	out := filepath.Join(dir, "m.mllm")
	if err := runConvert(t, "--input_model="+in, "--output_model="+out, "--type=safetensor"); err != nil {
		t.Fatal(err)
	}
	f, err := mllmfmt.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []struct {
		name string
		dt   mllmfmt.DType
		data []byte
	}{
		{"a.u8", mllmfmt.KleidiAIQ4_0, []byte{7, 255}},
		{"b.weight", mllmfmt.F32, tensor.Float32Bytes([]float32{1})}, // index-only rename
		{"c.i64", mllmfmt.F32, tensor.Float32Bytes([]float32{1 << 24})},
		{"m.bool", mllmfmt.I8, []byte{1}},
		{"z.w", mllmfmt.F32, tensor.Float32Bytes([]float32{1, -2})},
	}
	if len(f.Entries) != len(want) {
		t.Fatalf("%d entries", len(f.Entries))
	}
	for i, w := range want {
		e := f.Entries[i]
		if e.Name != w.name || e.DType != w.dt || !bytes.Equal(f.Data(e), w.data) {
			t.Errorf("entry %d = %s %v % x, want %s %v % x", i, e.Name, e.DType, f.Data(e), w.name, w.dt, w.data)
		}
	}
}

func TestNativeDTypes(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "n.pth")
	i32 := binary.LittleEndian.AppendUint32(nil, uint32(1<<24+1))
	root := &pth.Dict{Keys: []any{"h", "i", "l.mlp.down_proj.weight"}, Values: []any{
		tensor.FromBytes("", tensor.F16, []int{1}, le16(0x3c00)),
		tensor.FromBytes("", tensor.I32, []int{1}, i32),
		tensor.FromBytes("", tensor.F16, []int{1, 2}, le16(0x3c00, 0x4000)),
	}}
	if err := pth.Save(in, root); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "n.mllm")
	if err := runConvert(t, "--input_model="+in, "--output_model="+out, "--native_dtypes", "--model_type=sparse"); err != nil {
		t.Fatal(err)
	}
	f, err := mllmfmt.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []struct {
		dt   mllmfmt.DType
		data []byte
	}{{mllmfmt.F16, le16(0x3c00)}, {mllmfmt.I32, i32}, {mllmfmt.F16, le16(0x3c00, 0x4000)}}
	for i, w := range want {
		e := f.Entries[i]
		if e.DType != w.dt || !bytes.Equal(f.Data(e), w.data) {
			t.Errorf("%s: %v % x, want %v % x", e.Name, e.DType, f.Data(e), w.dt, w.data)
		}
	}
}

func TestIndexAndSparse(t *testing.T) {
	dir := t.TempDir()
	mk := func(shape []int, v ...float32) *tensor.Tensor { return tensor.FromFloat32("", shape, v) }
	shard := &pth.Dict{Keys: []any{"l.mlp.down_proj.weight", "l.up"}, Values: []any{mk([]int{2, 3}, 1, 2, 3, 4, 5, 6), mk([]int{1}, 9)}}
	if err := pth.Save(filepath.Join(dir, "s1.bin"), shard); err != nil {
		t.Fatal(err)
	}
	idx := filepath.Join(dir, "pytorch_model.bin.index.json")
	os.WriteFile(idx, []byte(`{"weight_map":{"l.up":"s1.bin","l.mlp.down_proj.weight":"s1.bin"}}`), 0o644)
	out := filepath.Join(dir, "o.mllm")
	if err := runConvert(t, "--input_model="+idx, "--output_model="+out, "--model_type=sparse"); err != nil {
		t.Fatal(err)
	}
	f, err := mllmfmt.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := f.Entries[0].Name + "," + f.Entries[1].Name; n != "l.up,l.mlp.down_proj.weight_T" {
		t.Errorf("names %s", n)
	}
	if got := f.Data(f.Entries[1]); !bytes.Equal(got, tensor.Float32Bytes([]float32{1, 4, 2, 5, 3, 6})) {
		t.Errorf("transposed % x", got)
	}
	// The torch index must have converter.py's name.
	bad := filepath.Join(dir, "model.index.json")
	os.WriteFile(bad, readFile(t, idx), 0o644)
	if err := runConvert(t, "--input_model="+bad, "--output_model="+out); err == nil || !strings.Contains(err.Error(), "pytorch_model.bin.index.json") {
		t.Errorf("badly named index: err = %v", err)
	}
	// Sparse mode refuses QNN exports, and leaves no output behind.
	qout := filepath.Join(dir, "q.mllm")
	if err := runConvert(t, "--input_model="+filepath.Join(formats, "tv10.pth"), "--output_model="+qout, "--model_type=sparse"); err == nil || !strings.Contains(err.Error(), "QNN export") {
		t.Errorf("sparse QNN: err = %v", err)
	}
	if _, err := os.Stat(qout); !os.IsNotExist(err) {
		t.Errorf("failed conversion left %s", qout)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pth")
	if err := pth.Save(empty, &pth.Dict{Keys: []any{"_x", "n"}, Values: []any{tensor.FromFloat32("", []int{1}, []float32{1}), int64(3)}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "o.mllm")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--input_model=" + empty, "--output_model=" + out}, "No tensors to write"},
		{[]string{"--input_model=" + filepath.Join(formats, "evil.pth"), "--output_model=" + out}, "is not allowed"},
		{[]string{"--input_model=" + filepath.Join(dir, "missing.pth"), "--output_model=" + out}, "no such file"},
		{[]string{"--input_model=" + empty, "--type=onnx"}, "--type"},
	}
	for _, c := range cases {
		if err := runConvert(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed conversion wrote %s", out)
	}
}

func TestVocab(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "tokenizer.json")
	os.WriteFile(in, []byte(`{"added_tokens":[{"id":2,"content":"ab"}],"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]}}`), 0o644)
	out := filepath.Join(dir, "vocab.mllm")
	if err := runConvert(t, "--type=vocab", "--input_model="+in, "--output_model="+out); err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "255b0000 04000000 00000000 01000000 61 00000000 01000000 01000000 62 0000803f 02000000 02000000 6162 00000040 02000000 02000000 6162 00000040")
	if got := readFile(t, out); !bytes.Equal(got, want) {
		t.Errorf("vocab % x", got)
	}
	if got := string(readFile(t, out+".merges.txt")); got != "['a', 'b']\n" {
		t.Errorf("merges %q", got)
	}
	// With the Q17 fixes.
	if err := runConvert(t, "--type=vocab", "--input_model="+in, "--output_model="+out, "--dedup_added_tokens", "--plain_merges"); err != nil {
		t.Fatal(err)
	}
	if got := string(readFile(t, out+".merges.txt")); got != "a b\n" {
		t.Errorf("plain merges %q", got)
	}
	if es, err := mllmfmt.ReadVocab(out); err != nil || len(es) != 3 {
		t.Errorf("dedup vocab: %d entries, %v", len(es), err)
	}
	// SentencePiece model with one normal piece.
	sp := []byte{0x0a, 0x0b, 0x0a, 0x04, 0xe2, 0x96, 0x81, 'a', 0x15}
	sp = binary.LittleEndian.AppendUint32(sp, math.Float32bits(-3))
	spIn := filepath.Join(dir, "tokenizer.model")
	os.WriteFile(spIn, sp, 0o644)
	if err := runConvert(t, "--type=vocab", "--input_model="+spIn, "--output_model="+out); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, out), unhex(t, "255b0000 01000000 00000000 02000000 2061 000040c0"); !bytes.Equal(got, want) {
		t.Errorf("sentencepiece vocab % x", got)
	}
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "tv10.mllm")
	if err := runConvert(t, "--input_model="+filepath.Join(formats, "tv10.pth"), "--output_model="+out); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := inspectFiles(&b, []string{out, filepath.Join(formats, "dtypes.pth"), "../../testdata/tinyqwen2/model.safetensors"}, inspectOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a.weight.scale  F32  -  4 B  @228", "transposed  F32   [4 3 2]  96 B  @view", "model.embed_tokens.weight"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("inspect output lacks %q:\n%s", s, b.String())
		}
	}
	// Overlapping tensors: point the second entry's offset at the first.
	raw := readFile(t, out)
	bad := append([]byte{}, raw...)
	binary.LittleEndian.PutUint64(bad[0x44:], 222)
	badPath := filepath.Join(dir, "bad.mllm")
	os.WriteFile(badPath, bad, 0o644)
	trunc := filepath.Join(dir, "trunc.mllm")
	os.WriteFile(trunc, raw[:240], 0o644)
	for _, p := range []string{badPath, trunc, filepath.Join(formats, "evil.pth")} {
		if err := inspectFiles(&b, []string{p}, inspectOptions{}); err == nil {
			t.Errorf("inspect %s: no error", p)
		}
	}
	b.Reset()
	if err := inspectFiles(&b, []string{filepath.Join(formats, "tv10.pth")}, inspectOptions{json: true, data: true}); err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Format != "pth-zip" || len(r.Tensors) != 6 || r.Tensors[0].Data != "MgCBAgD+" {
		t.Errorf("json report %+v", r)
	}
}
