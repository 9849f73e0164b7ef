package quant

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

func quantizeToBytes(t *testing.T, in *mllmfmt.File, target mllmfmt.DType, opt FileOptions) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out.mllm")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := QuantizeFile(in, f, target, opt); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The whole output file equals mllm's own quantize output for each target
// (SHA-256 of the file); on a mismatch every tensor's name, dtype code,
// offset and bytes are compared with mllm's to say which differ.
func TestQuantizeFileMatchesMLLM(t *testing.T) {
	g, in := loadGolden(t)
	for typ, dt := range map[string]mllmfmt.DType{"Q4_K": mllmfmt.Q4_K, "Q4_0": mllmfmt.Q4_0, "Q8_0": mllmfmt.Q8_0, "Q6_K": mllmfmt.Q6_K} {
		t.Run(typ, func(t *testing.T) {
			gf := g.Files[typ]
			counts := map[mllmfmt.DType]int{}
			for _, e := range gf.Tensors {
				counts[mllmfmt.DType(e.DType)]++
			}
			if counts[dt] == 0 {
				t.Fatalf("golden %s holds no tensor of that type", typ)
			}
			out := quantizeToBytes(t, in, dt, FileOptions{})
			h := sha256.Sum256(out)
			if hex.EncodeToString(h[:]) == gf.SHA256 {
				t.Logf("%s: whole file identical (%d bytes; tensors by dtype %v)", typ, len(out), counts)
				return
			}
			t.Errorf("file differs from mllm's (%d vs %d bytes)", len(out), gf.Bytes)
			f, err := mllmfmt.Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Entries) != len(gf.Tensors) {
				t.Fatalf("%d tensors, mllm wrote %d", len(f.Entries), len(gf.Tensors))
			}
			for i, e := range f.Entries {
				w := gf.Tensors[i]
				h := sha256.Sum256(f.Data(e))
				if e.Name != w.Name || int32(e.DType) != w.DType || e.Offset != w.Offset || e.Size != w.Size || hex.EncodeToString(h[:]) != w.SHA256 {
					t.Errorf("tensor %d: %s %v @%d+%d, mllm's %s %v @%d+%d (bytes equal: %v)", i, e.Name, e.DType, e.Offset, e.Size,
						w.Name, mllmfmt.DType(w.DType), w.Offset, w.Size, hex.EncodeToString(h[:]) == w.SHA256)
				}
			}
		})
	}
}

func TestTypeFor(t *testing.T) {
	for _, c := range []struct {
		name string
		want mllmfmt.DType
	}{
		{"model.embed_tokens.weight", mllmfmt.Q4_0},
		{"transformer.word_embeddings.weight", mllmfmt.Q4_0},
		{"vision_embed_tokens", mllmfmt.Q4_0},
		{"model.layers.0.input_layernorm.weight", mllmfmt.F32},
		{"model.norm.weight", mllmfmt.F32},
		{"model.layers.0.self_attn.q_proj.bias", mllmfmt.F32},
		{"model.rotary_emb.inv_freq", mllmfmt.F32},
		{"visual.patch_embed.proj.weight", mllmfmt.F32},
		{"model.layers.0.self_attn.q_proj.weight", mllmfmt.Q4_K},
		{"model.layers.3.mlp.down_proj.weight", mllmfmt.Q4_K},
		{"lm_head.weight", mllmfmt.Q4_K},
		{"model.layers.0.self_attn.q_proj.weight.scale", mllmfmt.F32},
		{"model.layers.0.self_attn.q_proj.input_scale", mllmfmt.F32},
		{"model.layers.0.mlp.down_proj.output_scale", mllmfmt.F32},
	} {
		if got := TypeFor(c.name, mllmfmt.Q4_K); got != c.want {
			t.Errorf("TypeFor(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

func writeMLLM(t *testing.T, entries []struct {
	name string
	dt   mllmfmt.DType
	data []byte
}) *mllmfmt.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.mllm")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.name)
	}
	w, err := mllmfmt.NewWriter(f, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := w.WriteTensor(e.name, e.dt, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	m, err := mllmfmt.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// A tied checkpoint without lm_head.weight gets one made from the
// embedding, appended after the sorted names; int8 tensors pass through.
func TestQuantizeFileSynthesizesLMHead(t *testing.T) {
	x := testInputs()["gauss"]
	emb := tensor.Float32Bytes(x[:2*QK_K])
	w := tensor.Float32Bytes(x[2*QK_K:])
	norm := tensor.Float32Bytes(make([]float32, 8))
	i8 := []byte{1, 2, 3, 0xFF, 5}
	in := writeMLLM(t, []struct {
		name string
		dt   mllmfmt.DType
		data []byte
	}{
		{"model.layers.0.mlp.up_proj.weight", mllmfmt.F32, w},
		{"model.embed_tokens.weight", mllmfmt.F32, emb},
		{"model.norm.weight", mllmfmt.F32, norm},
		{"model.layers.0.self_attn.q_proj.weight.i8", mllmfmt.I8, i8},
	})
	out, err := mllmfmt.Parse(quantizeToBytes(t, in, mllmfmt.Q4_K, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range out.Entries {
		names = append(names, e.Name)
	}
	want := "model.embed_tokens.weight model.layers.0.mlp.up_proj.weight model.layers.0.self_attn.q_proj.weight.i8 model.norm.weight lm_head.weight"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("order %q, want %q", got, want)
	}
	q40, _ := Quantize(mllmfmt.Q4_0, x[:2*QK_K])
	q4k, _ := Quantize(mllmfmt.Q4_K, x[2*QK_K:])
	q4kEmb, _ := Quantize(mllmfmt.Q4_K, x[:2*QK_K])
	for _, c := range []struct {
		name string
		dt   mllmfmt.DType
		data []byte
	}{
		{"model.embed_tokens.weight", mllmfmt.Q4_0, q40},
		{"model.layers.0.mlp.up_proj.weight", mllmfmt.Q4_K, q4k},
		{"model.layers.0.self_attn.q_proj.weight.i8", mllmfmt.I8, i8},
		{"model.norm.weight", mllmfmt.F32, norm},
		{"lm_head.weight", mllmfmt.Q4_K, q4kEmb},
	} {
		dt, data, err := out.Tensor(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if dt != c.dt || !bytes.Equal(data, c.data) {
			t.Errorf("%s: dtype %v (%d bytes), want %v (%d bytes) with the expected bytes", c.name, dt, len(data), c.dt, len(c.data))
		}
	}
	kept, err := mllmfmt.Parse(quantizeToBytes(t, in, mllmfmt.Q4_K, FileOptions{KeepOrder: true}))
	if err != nil {
		t.Fatal(err)
	}
	if kept.Entries[0].Name != "model.layers.0.mlp.up_proj.weight" || kept.Entries[4].Name != "lm_head.weight" {
		t.Errorf("--keep-order: order %v", kept.Entries)
	}
}

func TestQuantizeFileErrors(t *testing.T) {
	type ent = struct {
		name string
		dt   mllmfmt.DType
		data []byte
	}
	for _, c := range []struct {
		what    string
		entries []ent
		want    string
	}{
		{"not a block multiple", []ent{{"a.weight", mllmfmt.F32, tensor.Float32Bytes(make([]float32, 100))}}, `"a.weight" → Q4_K`},
		{"already quantized", []ent{{"a.weight", mllmfmt.Q4_0, make([]byte, 18)}}, "only F32"},
		{"renamed by the writer", []ent{{"a_weight", mllmfmt.F32, tensor.Float32Bytes(make([]float32, 256))}}, "_weight"},
	} {
		in := writeMLLM(t, c.entries)
		if c.what == "renamed by the writer" {
			// mllmfmt's writer renamed it in the index; forge it back.
			in = forgeLookup(t, in)
		}
		_, err := QuantizeFile(in, nopWS{}, mllmfmt.Q4_K, FileOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one containing %q", c.what, err, c.want)
		}
	}
}

// forgeLookup re-parses a file image whose first name was edited in memory.
func forgeLookup(t *testing.T, f *mllmfmt.File) *mllmfmt.File {
	t.Helper()
	raw, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.Replace(raw, []byte("a.weight"), []byte("a_weight"), 1)
	m, err := mllmfmt.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type nopWS struct{}

func (nopWS) Write(p []byte) (int, error)               { return len(p), nil }
func (nopWS) Seek(off int64, whence int) (int64, error) { return 0, nil }

// A QNN export's int8 weights, clip flags and scalar scales pass through.
func TestQuantizeFileQNNExport(t *testing.T) {
	in := writeMLLM(t, []struct {
		name string
		dt   mllmfmt.DType
		data []byte
	}{
		{"a.weight", mllmfmt.I8, []byte{1, 2, 3, 4, 5, 6}},
		{"a.weight.scale", mllmfmt.F32, tensor.Float32Bytes([]float32{0.01})},
		{"a.input_scale", mllmfmt.F32, tensor.Float32Bytes([]float32{3.5})},
		{"a.clip_input", mllmfmt.I8, []byte{1}},
	})
	out, err := mllmfmt.Parse(quantizeToBytes(t, in, mllmfmt.Q4_K, FileOptions{KeepOrder: true}))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range out.Entries {
		src := in.Entries[i]
		if e.Name != src.Name || e.DType != src.DType || !bytes.Equal(out.Data(e), in.Data(src)) {
			t.Errorf("%s: %v, want %s %v untouched", e.Name, e.DType, src.Name, src.DType)
		}
	}
}
