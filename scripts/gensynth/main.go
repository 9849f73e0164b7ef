// Command gensynth writes a seeded synthetic Hugging Face Qwen2 model
// directory with the shapes of a real model, for benchmarks of the whole
// pipeline at full size:
//
//	go run ./scripts/gensynth [--shape=qwen1.5-1.8b|qwen2-7b] [--seed=1] [--layers=N] OUTDIR
//
// OUTDIR receives config.json (the real model's sizes and vocab_size),
// model.safetensors (bf16, Hugging Face names, tensors in the alphabetical
// order save_pretrained writes them), and tokenizer.json /
// tokenizer_config.json copied from testdata/tinyqwen2 (its ids are all
// below the real vocab size). Weights and embeddings are normal(0, 0.02),
// biases normal(0, 0.02), RMSNorm weights normal(1, 0.05), all rounded to
// bf16. The file is written in 4 MB chunks generated on GOMAXPROCS
// goroutines, so memory stays small; the bytes depend only on the seed.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// shape is one model's sizes (Hugging Face config.json fields).
type shape struct {
	Hidden, Inter, Layers, Heads, KVHeads, Vocab int
	RopeTheta                                    float64
	MaxPos                                       int
}

var shapes = map[string]shape{
	"qwen1.5-1.8b": {Hidden: 2048, Inter: 5504, Layers: 24, Heads: 16, KVHeads: 16, Vocab: 151936, RopeTheta: 1000000, MaxPos: 32768},
	"qwen2-7b":     {Hidden: 3584, Inter: 18944, Layers: 28, Heads: 28, KVHeads: 4, Vocab: 152064, RopeTheta: 1000000, MaxPos: 32768},
}

const tokenizerDir = "testdata/tinyqwen2"

func main() {
	fs := flag.NewFlagSet("gensynth", flag.ExitOnError)
	name := fs.String("shape", "qwen1.5-1.8b", "model shape: qwen1.5-1.8b or qwen2-7b")
	seed := fs.Uint64("seed", 1, "random seed")
	layers := fs.Int("layers", 0, "number of decoder layers (0: the real model's)")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: gensynth [--shape=qwen1.5-1.8b|qwen2-7b] [--seed=S] [--layers=N] OUTDIR")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	s, ok := shapes[*name]
	if fs.NArg() != 1 || !ok || *layers < 0 {
		fs.Usage()
		os.Exit(2)
	}
	if *layers > 0 {
		s.Layers = *layers
	}
	if err := generate(fs.Arg(0), s, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gensynth:", err)
		os.Exit(1)
	}
}

// spec is one tensor to generate: normal(mean, std) in bf16.
type spec struct {
	name      string
	shape     []int
	mean, std float64
}

func (s spec) bytes() int64 { return int64(tensor.NumElements(s.shape)) * 2 }

func specs(s shape) []spec {
	hd := s.Hidden / s.Heads
	kv := s.KVHeads * hd
	const w = 0.02
	out := []spec{
		{"model.embed_tokens.weight", []int{s.Vocab, s.Hidden}, 0, w},
		{"model.norm.weight", []int{s.Hidden}, 1, 0.05},
		{"lm_head.weight", []int{s.Vocab, s.Hidden}, 0, w},
	}
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		out = append(out,
			spec{p + "input_layernorm.weight", []int{s.Hidden}, 1, 0.05},
			spec{p + "post_attention_layernorm.weight", []int{s.Hidden}, 1, 0.05},
			spec{p + "self_attn.q_proj.weight", []int{s.Hidden, s.Hidden}, 0, w},
			spec{p + "self_attn.q_proj.bias", []int{s.Hidden}, 0, w},
			spec{p + "self_attn.k_proj.weight", []int{kv, s.Hidden}, 0, w},
			spec{p + "self_attn.k_proj.bias", []int{kv}, 0, w},
			spec{p + "self_attn.v_proj.weight", []int{kv, s.Hidden}, 0, w},
			spec{p + "self_attn.v_proj.bias", []int{kv}, 0, w},
			spec{p + "self_attn.o_proj.weight", []int{s.Hidden, s.Hidden}, 0, w},
			spec{p + "mlp.gate_proj.weight", []int{s.Inter, s.Hidden}, 0, w},
			spec{p + "mlp.up_proj.weight", []int{s.Inter, s.Hidden}, 0, w},
			spec{p + "mlp.down_proj.weight", []int{s.Hidden, s.Inter}, 0, w},
		)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func generate(dir string, s shape, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg := map[string]any{
		"architectures":           []string{"Qwen2ForCausalLM"},
		"model_type":              "qwen2",
		"hidden_size":             s.Hidden,
		"intermediate_size":       s.Inter,
		"num_hidden_layers":       s.Layers,
		"num_attention_heads":     s.Heads,
		"num_key_value_heads":     s.KVHeads,
		"vocab_size":              s.Vocab,
		"rms_norm_eps":            1e-6,
		"rope_theta":              s.RopeTheta,
		"max_position_embeddings": s.MaxPos,
		"tie_word_embeddings":     false,
		"hidden_act":              "silu",
		"torch_dtype":             "bfloat16",
		"bos_token_id":            8189,
		"eos_token_id":            8191,
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), append(b, '\n')); err != nil {
		return err
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(tokenizerDir, f))
		if err != nil {
			return fmt.Errorf("copy the tokenizer (run from the repository root): %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, f), b); err != nil {
			return err
		}
	}
	return writeSafetensors(filepath.Join(dir, "model.safetensors"), specs(s), seed)
}

func writeSafetensors(path string, ss []spec, seed uint64) error {
	hdr := []byte(`{"__metadata__":{"format":"pt"}`)
	var off int64
	for _, s := range ss {
		sh, _ := json.Marshal(s.shape)
		hdr = fmt.Appendf(hdr, `,"%s":{"dtype":"BF16","shape":%s,"data_offsets":[%d,%d]}`, s.name, sh, off, off+s.bytes())
		off += s.bytes()
	}
	hdr = append(hdr, '}')
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	w := bufio.NewWriterSize(f, 1<<20)
	binary.Write(w, binary.LittleEndian, uint64(len(hdr)))
	w.Write(hdr)
	tables := map[[2]float64][]uint16{}
	for ti, s := range ss {
		key := [2]float64{s.mean, s.std}
		if tables[key] == nil {
			tables[key] = normalTable(s.mean, s.std)
		}
		if err := writeTensor(w, s.bytes(), tables[key], mix(seed, uint64(ti))); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", path, s.name, err)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return err
	}
	fmt.Printf("%s: %d tensors, %.2f GB of bf16 data\n", path, len(ss), float64(off)/1e9)
	return nil
}

// normalTable holds 65536 bf16 quantiles of normal(mean, std): indexing it
// with uniform 16-bit numbers samples the distribution.
func normalTable(mean, std float64) []uint16 {
	t := make([]uint16, 1<<16)
	for i := range t {
		p := (float64(i) + 0.5) / (1 << 16)
		t[i] = tensor.F32ToBF16(float32(mean + std*math.Sqrt2*math.Erfinv(2*p-1)))
	}
	return t
}

// mix is splitmix64 of a ⊕ b·golden: independent seeds per tensor/chunk.
func mix(a, b uint64) uint64 {
	z := a ^ (b+1)*0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

const chunk = 4 << 20 // bytes per generated chunk

// writeTensor writes n bytes of samples from table, generated in chunks
// (each from its own seed) on GOMAXPROCS goroutines and written in order.
func writeTensor(w *bufio.Writer, n int64, table []uint16, seed uint64) error {
	chunks := int((n + chunk - 1) / chunk)
	workers := runtime.GOMAXPROCS(0)
	results := make([]chan []byte, chunks)
	for i := range results {
		results[i] = make(chan []byte, 1)
	}
	sem := make(chan struct{}, 2*workers) // chunks in flight
	var wg sync.WaitGroup
	go func() {
		for c := 0; c < chunks; c++ {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				size := min(int64(chunk), n-int64(c)*chunk)
				results[c] <- fill(make([]byte, size), table, mix(seed, uint64(c)))
			}()
		}
	}()
	var err error
	for c := 0; c < chunks; c++ {
		b := <-results[c]
		if err == nil {
			_, err = w.Write(b)
		}
		<-sem
	}
	wg.Wait()
	return err
}

// fill writes bf16 samples into b with xorshift64* from x.
func fill(b []byte, table []uint16, x uint64) []byte {
	x |= 1
	for i := 0; i < len(b); i += 8 {
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		r := x * 0x2545F4914F6CDD1D
		for k := 0; k < 4 && i+2*k < len(b); k++ {
			binary.LittleEndian.PutUint16(b[i+2*k:], table[uint16(r>>(16*k))])
		}
	}
	return b
}
