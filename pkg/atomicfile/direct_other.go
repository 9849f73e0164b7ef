//go:build !linux

package atomicfile

import (
	"errors"
	"os"
)

// openDirect is Linux-only; elsewhere outputs are always buffered.
func openDirect(string) (*os.File, error) { return nil, errors.ErrUnsupported }
