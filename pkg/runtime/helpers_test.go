package runtime

import "github.com/qnnkit/qnnkit/pkg/tensor"

func tensor16(f float32) float32 { return tensor.RoundF16(f) }
