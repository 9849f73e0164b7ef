package checkpoint

import (
	"fmt"
	"io"

	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// pthReader opens PyTorch files (pytorch_model.bin shards, consolidated
// .pth, .pt) through pkg/pth with converter.py's state-dict rules: a
// "model" sub-dict is unwrapped, "_"-keys and non-tensors are skipped,
// nested dicts are flattened with ".", and the order is insertion order.
var pthReader = Reader{
	Name:  "pytorch",
	Match: hasSuffix(".bin", ".pth", ".pt"),
	Open:  OpenPth,
}

// OpenPth opens one PyTorch file and returns its state-dict tensors in
// insertion order; the closer unmaps the file.
func OpenPth(path string) ([]*tensor.Tensor, io.Closer, error) {
	f, err := pth.Open(path)
	if err != nil {
		return nil, nil, err
	}
	ts, err := pth.StateDict(f.Root)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, f, nil
}
