package model

import (
	"encoding/json"
	"fmt"
)

// llamaArch covers Llama 2/3-style checkpoints: no biases by default
// (attention_bias opts in), SiLU MLP, rotate-half RoPE.
var llamaArch = Arch{
	Name: "llama",
	Parse: func(raw map[string]json.RawMessage, c *Config) error {
		if err := getOpt(raw, "attention_bias", &c.AttentionBias); err != nil {
			return err
		}
		var mlpBias bool
		if err := getOpt(raw, "mlp_bias", &mlpBias); err != nil {
			return err
		}
		if mlpBias {
			return fmt.Errorf("mlp_bias = true is not supported")
		}
		var act string
		if err := getOpt(raw, "hidden_act", &act); err != nil {
			return err
		}
		if act != "" && act != "silu" {
			return fmt.Errorf("hidden_act %q is not supported (only silu)", act)
		}
		return nil
	},
}
