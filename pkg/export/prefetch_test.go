package export

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// testState is n 1-byte-per-element tensors; tensor bad (if ≥ 0) fails.
// computed counts the Data calls.
func testState(n, bad int, computed *atomic.Int32) State {
	var s State
	for i := range n {
		s = append(s, &tensor.Tensor{Name: fmt.Sprint("t", i), DType: tensor.U8, Shape: []int{4}, Data: func() ([]byte, error) {
			computed.Add(1)
			if i == bad {
				return nil, errors.New("boom")
			}
			return []byte{byte(i), 1, 2, 3}, nil
		}})
	}
	return s
}

func TestPrefetch(t *testing.T) {
	for _, c := range []struct {
		name   string
		order  []int // the Data calls
		bad    int
		budget int64
		// the tensors computed at most when stop returns
		maxComputed int32
	}{
		{"in order", []int{0, 1, 2, 3, 4}, -1, 1 << 20, 5},
		{"no budget: one ahead", []int{0}, -1, 0, 2},
		{"stop before any read", nil, -1, 1 << 20, 0},
		{"out of order", []int{0, 3, 1, 2, 4, 4}, -1, 0, 8},
		{"error", []int{0, 1, 2, 3, 4}, 2, 1 << 20, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			var computed atomic.Int32
			s, stop := prefetch(testState(5, c.bad, &computed), c.budget)
			for _, i := range c.order {
				b, err := s[i].Data()
				if i == c.bad {
					if err == nil || err.Error() != "boom" {
						t.Fatalf("tensor %d: err = %v, want boom", i, err)
					}
					continue
				}
				if err != nil || !bytes.Equal(b, []byte{byte(i), 1, 2, 3}) {
					t.Fatalf("tensor %d: %v, %v", i, b, err)
				}
			}
			stop()
			stop() // a second stop is harmless
			if n := computed.Load(); n > c.maxComputed {
				t.Errorf("%d tensors computed, want at most %d", n, c.maxComputed)
			}
		})
	}
}
