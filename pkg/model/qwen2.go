package model

import (
	"encoding/json"
	"fmt"
)

// qwen2Arch covers Qwen1.5, Qwen2 and Qwen2.5: Llama's layout with biases
// on q/k/v and none on o_proj.
var qwen2Arch = Arch{
	Name: "qwen2",
	Parse: func(raw map[string]json.RawMessage, c *Config) error {
		c.AttentionBias = true
		var sw bool
		if err := getOpt(raw, "use_sliding_window", &sw); err != nil {
			return err
		}
		if sw {
			return fmt.Errorf("use_sliding_window = true is not supported")
		}
		return nil
	},
}
