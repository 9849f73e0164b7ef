package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
)

// makeFixtures writes the checkpoints the bad-input cases refer to as
// $GEN/models/NAME. Most are the bundled tiny Qwen2 model with one thing
// broken; h76 and h4864 are synthetic Qwen2 models whose hidden size has no
// random Hadamard construction (4864 = 256·19 is Qwen2.5-0.5B's
// intermediate size; 76 = 4·19 is the same problem, small; its head_dim
// 38 is even, as RoPE needs). Everything is deterministic (fixed seeds).
func makeFixtures(gen, repo string) error {
	src := filepath.Join(repo, "testdata", "tinyqwen2")
	st, err := os.ReadFile(filepath.Join(src, "model.safetensors"))
	if err != nil {
		return err
	}
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		return err
	}
	models := filepath.Join(gen, "models")
	variant := func(name string, safetensors, config []byte) error {
		dir := filepath.Join(models, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if safetensors != nil {
			if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), safetensors, 0o644); err != nil {
				return err
			}
		}
		if config != nil {
			if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644); err != nil {
				return err
			}
		}
		return os.Symlink(filepath.Join(src, "tokenizer.json"), filepath.Join(dir, "tokenizer.json"))
	}
	hdrLen := binary.LittleEndian.Uint64(st)
	var hdr map[string]struct {
		DType   string `json:"dtype"`
		Shape   []int  `json:"shape"`
		Offsets [2]int `json:"data_offsets"`
	}
	if err := json.Unmarshal(st[8:8+hdrLen], &hdr); err != nil {
		return fmt.Errorf("bundled safetensors header: %w", err)
	}
	// poke sets element i of a BF16 tensor to the bf16 bits v.
	poke := func(name string, i int, v uint16) ([]byte, error) {
		t, ok := hdr[name]
		if !ok || t.DType != "BF16" {
			return nil, fmt.Errorf("bundled model has no BF16 tensor %s", name)
		}
		b := append([]byte(nil), st...)
		binary.LittleEndian.PutUint16(b[8+int(hdrLen)+t.Offsets[0]+2*i:], v)
		return b, nil
	}
	nan, err := poke("model.layers.1.mlp.up_proj.weight", 5, 0x7FC0)
	if err != nil {
		return err
	}
	inf, err := poke("model.layers.0.self_attn.q_proj.weight", 0, 0x7F80)
	if err != nil {
		return err
	}
	huge := append([]byte(nil), st...)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	badJSON := append([]byte(nil), st...)
	badJSON[8] = 'X'
	var c map[string]any
	if err := json.Unmarshal(cfg, &c); err != nil {
		return err
	}
	withCfg := func(edit func(map[string]any)) []byte {
		m := map[string]any{}
		for k, v := range c {
			m[k] = v
		}
		edit(m)
		b, _ := json.MarshalIndent(m, "", "  ")
		return b
	}
	for _, v := range []struct {
		name        string
		safetensors []byte
		config      []byte
	}{
		{"trunc", st[:len(st)/2], cfg},
		{"hugeheader", huge, cfg},
		{"hdrjson", badJSON, cfg},
		{"nan", nan, cfg},
		{"inf", inf, cfg},
		{"shape", st, withCfg(func(m map[string]any) { m["intermediate_size"] = 512 })},
		{"cfgmissing", st, withCfg(func(m map[string]any) { delete(m, "num_hidden_layers") })},
		{"layers2", st, withCfg(func(m map[string]any) { m["num_hidden_layers"] = 2 })},
		{"cfgbad", st, cfg[:len(cfg)/2]},
		{"nocfg", st, nil},
	} {
		if err := variant(v.name, v.safetensors, v.config); err != nil {
			return err
		}
	}
	if err := synthQwen2(filepath.Join(models, "h76"), 76, 2, 1, 8192, false); err != nil {
		return err
	}
	return synthQwen2(filepath.Join(models, "h4864"), 4864, 64, 1, 16, true)
}

// synthQwen2 writes a one-layer Qwen2 checkpoint (config.json +
// model.safetensors, BF16) with the given hidden size. Values are seeded
// random, or all zero when zero is set (the data is then a sparse hole, so a
// large model costs no disk writes).
func synthQwen2(dir string, hidden, heads, kvHeads, vocab int, zero bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	headDim := hidden / heads
	inter := 32
	cfg := map[string]any{
		"architectures": []string{"Qwen2ForCausalLM"}, "model_type": "qwen2",
		"hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": 1,
		"num_attention_heads": heads, "num_key_value_heads": kvHeads, "vocab_size": vocab,
		"rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": true,
		"max_position_embeddings": 256, "hidden_act": "silu", "torch_dtype": "bfloat16",
	}
	cb, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cb, 0o644); err != nil {
		return err
	}
	shapes := map[string][]int{
		"model.embed_tokens.weight":                      {vocab, hidden},
		"model.norm.weight":                              {hidden},
		"model.layers.0.input_layernorm.weight":          {hidden},
		"model.layers.0.post_attention_layernorm.weight": {hidden},
		"model.layers.0.mlp.gate_proj.weight":            {inter, hidden},
		"model.layers.0.mlp.up_proj.weight":              {inter, hidden},
		"model.layers.0.mlp.down_proj.weight":            {hidden, inter},
		"model.layers.0.self_attn.q_proj.weight":         {heads * headDim, hidden},
		"model.layers.0.self_attn.q_proj.bias":           {heads * headDim},
		"model.layers.0.self_attn.k_proj.weight":         {kvHeads * headDim, hidden},
		"model.layers.0.self_attn.k_proj.bias":           {kvHeads * headDim},
		"model.layers.0.self_attn.v_proj.weight":         {kvHeads * headDim, hidden},
		"model.layers.0.self_attn.v_proj.bias":           {kvHeads * headDim},
		"model.layers.0.self_attn.o_proj.weight":         {hidden, heads * headDim},
	}
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	type entry struct {
		DType   string `json:"dtype"`
		Shape   []int  `json:"shape"`
		Offsets [2]int `json:"data_offsets"`
	}
	hdr := map[string]entry{}
	off := 0
	for _, n := range names {
		k := 1
		for _, d := range shapes[n] {
			k *= d
		}
		hdr[n] = entry{"BF16", shapes[n], [2]int{off, off + 2*k}}
		off += 2 * k
	}
	hb, _ := json.Marshal(hdr)
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return err
	}
	defer f.Close()
	head := binary.LittleEndian.AppendUint64(nil, uint64(len(hb)))
	if _, err := f.Write(append(head, hb...)); err != nil {
		return err
	}
	if zero {
		return f.Truncate(int64(len(head) + len(hb) + off))
	}
	rng := rand.New(rand.NewPCG(1, uint64(hidden)))
	data := make([]byte, off)
	for i := 0; i < off; i += 2 {
		v := float32(rng.NormFloat64() * 0.05)
		binary.LittleEndian.PutUint16(data[i:], uint16(math.Float32bits(v)>>16))
	}
	_, err = f.Write(data)
	return err
}
