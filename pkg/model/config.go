// Package model holds decoder-only transformer weights in float32 and runs
// their forward pass. Each supported architecture lives in its own file and
// registers itself in the architecture table; all of them share one weight
// layout (Weights) and one forward (Forward), which is what profiling,
// export and the runtime build on.
//
// The forward follows Hugging Face's Qwen2/Llama modelling code in float32
// (checked against torch by the goldens in testdata/model): RMSNorm as
// weight·(x·rsqrt(mean(x²)+eps)), rotate-half RoPE with HF's float32
// inv_freq, grouped-query causal attention with softmax(q·kᵀ·hd^-½), a
// SiLU-gated MLP, q/k/v biases where the architecture has them, and a tied
// or untied lm_head. Every matrix product goes through kernels.MatMulT.
//
// Layer-level steps (Embed, LayerForward, Logits) let callers stream a
// model layer by layer; a LinearHook sees every Linear's input and output;
// a KVCache makes incremental decoding equal to the full forward.
package model

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Config is the subset of a Hugging Face config.json the forward needs.
type Config struct {
	Arch              string  // registry key: "qwen2", "llama"
	HiddenSize        int     // hidden_size
	IntermediateSize  int     // intermediate_size
	NumLayers         int     // num_hidden_layers
	NumHeads          int     // num_attention_heads
	NumKVHeads        int     // num_key_value_heads (defaults to NumHeads)
	HeadDim           int     // head_dim (defaults to HiddenSize/NumHeads)
	VocabSize         int     // vocab_size
	MaxPositions      int     // max_position_embeddings
	RopeTheta         float64 // rope_theta
	RMSNormEps        float64 // rms_norm_eps
	TieWordEmbeddings bool    // tie_word_embeddings
	AttentionBias     bool    // q/k/v carry a bias (qwen2: always; llama: attention_bias)
	BOSTokenID        int     // -1 when absent
	EOSTokenIDs       []int   // eos_token_id (int or list)
}

// Arch describes one architecture: how config.json maps onto Config.
type Arch struct {
	// Name is the registry key (config.json's model_type).
	Name string
	// Parse fills architecture-specific defaults and checks.
	Parse func(raw map[string]json.RawMessage, c *Config) error
}

// archs is the architecture table; each arch file adds itself in init-free
// form through this function so the table is a plain literal.
func archs() map[string]Arch {
	return map[string]Arch{
		"qwen2": qwen2Arch,
		"llama": llamaArch,
	}
}

// unsupported maps model types we recognise but do not support to a reason.
var unsupported = map[string]string{
	"qwen2_vl":  "Qwen2-VL (vision-language) is not supported: only the text decoders qwen2 and llama are",
	"qwen2-vl":  "Qwen2-VL (vision-language) is not supported: only the text decoders qwen2 and llama are",
	"qwen2_moe": "Qwen2-MoE is not supported",
	"qwen3":     "Qwen3 is not supported (q/k norms)",
}

// ParseConfig parses a Hugging Face config.json.
func ParseConfig(data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	var mt string
	if err := getOpt(raw, "model_type", &mt); err != nil {
		return nil, err
	}
	if mt == "" {
		return nil, fmt.Errorf("config.json: model_type is missing")
	}
	if why, ok := unsupported[mt]; ok {
		return nil, fmt.Errorf("config.json: model_type %q: %s", mt, why)
	}
	a, ok := archs()[mt]
	if !ok {
		var names []string
		for k := range archs() {
			names = append(names, k)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("config.json: model_type %q is not supported (supported: %s)", mt, strings.Join(names, ", "))
	}
	c := &Config{Arch: mt, BOSTokenID: -1, RopeTheta: 10000, RMSNormEps: 1e-6}
	for _, f := range []struct {
		key string
		dst *int
	}{
		{"hidden_size", &c.HiddenSize}, {"intermediate_size", &c.IntermediateSize},
		{"num_hidden_layers", &c.NumLayers}, {"num_attention_heads", &c.NumHeads},
		{"vocab_size", &c.VocabSize},
	} {
		if err := getReq(raw, f.key, f.dst); err != nil {
			return nil, err
		}
		if *f.dst <= 0 {
			return nil, fmt.Errorf("config.json: %s = %d must be positive", f.key, *f.dst)
		}
	}
	for _, f := range []struct {
		key string
		dst any
	}{
		{"num_key_value_heads", &c.NumKVHeads}, {"head_dim", &c.HeadDim},
		{"max_position_embeddings", &c.MaxPositions}, {"rope_theta", &c.RopeTheta},
		{"rms_norm_eps", &c.RMSNormEps}, {"tie_word_embeddings", &c.TieWordEmbeddings},
	} {
		if err := getOpt(raw, f.key, f.dst); err != nil {
			return nil, err
		}
	}
	if c.NumKVHeads == 0 {
		c.NumKVHeads = c.NumHeads
	}
	if c.HeadDim == 0 {
		if c.HiddenSize%c.NumHeads != 0 {
			return nil, fmt.Errorf("config.json: hidden_size %d is not divisible by num_attention_heads %d", c.HiddenSize, c.NumHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumHeads
	}
	if c.NumHeads%c.NumKVHeads != 0 {
		return nil, fmt.Errorf("config.json: num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NumHeads, c.NumKVHeads)
	}
	if c.HeadDim%2 != 0 {
		return nil, fmt.Errorf("config.json: head_dim %d must be even for RoPE", c.HeadDim)
	}
	if rs, ok := raw["rope_scaling"]; ok && string(rs) != "null" {
		return nil, fmt.Errorf("config.json: rope_scaling %s is not supported", string(rs))
	}
	if b, ok := raw["bos_token_id"]; ok && string(b) != "null" {
		if err := json.Unmarshal(b, &c.BOSTokenID); err != nil {
			return nil, fmt.Errorf("config.json: bos_token_id: %w", err)
		}
	}
	if e, ok := raw["eos_token_id"]; ok && string(e) != "null" {
		var one int
		if json.Unmarshal(e, &one) == nil {
			c.EOSTokenIDs = []int{one}
		} else if err := json.Unmarshal(e, &c.EOSTokenIDs); err != nil {
			return nil, fmt.Errorf("config.json: eos_token_id: %w", err)
		}
	}
	if err := a.Parse(raw, c); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	return c, nil
}

func getReq(raw map[string]json.RawMessage, key string, dst any) error {
	if _, ok := raw[key]; !ok {
		return fmt.Errorf("config.json: %s is missing", key)
	}
	return getOpt(raw, key, dst)
}

func getOpt(raw map[string]json.RawMessage, key string, dst any) error {
	v, ok := raw[key]
	if !ok || string(v) == "null" {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("config.json: %s: %w", key, err)
	}
	return nil
}

// QDim is the width of the q projection output (heads × head_dim).
func (c *Config) QDim() int { return c.NumHeads * c.HeadDim }

// KVDim is the width of the k and v projection outputs.
func (c *Config) KVDim() int { return c.NumKVHeads * c.HeadDim }
