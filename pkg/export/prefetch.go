package export

import (
	"sync"

	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// prefetchBudget bounds the bytes of tensors computed ahead of the writer
// and not yet taken by it (besides the tensor being written and the one
// being computed).
const prefetchBudget = 128 << 20

// prefetch returns a State with s's tensors whose bytes are computed, in
// order, by one goroutine running ahead of the writer: while the writer
// writes tensor i (and waits for the disk), tensor i+1 and the following
// ones (at most budget bytes of them not yet taken) are being computed.
// Data of the returned tensors must be called in order, each once, as the
// writers do; a call out of that order computes the tensor directly from s
// (correct, not prefetched). The goroutine starts at the first Data call.
// stop ends it and returns once it has (after the tensor it is computing,
// so that nothing reads the model after stop), and must be called once
// the writer is done.
func prefetch(s State, budget int64) (State, func()) {
	p := &prefetcher{src: s, budget: budget, res: make(chan fetched, len(s)), done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	out := make(State, len(s))
	for i, t := range s {
		out[i] = &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: func() ([]byte, error) { return p.take(i) }}
	}
	return out, p.stop
}

type fetched struct {
	b   []byte
	err error
}

type prefetcher struct {
	src    State
	budget int64
	res    chan fetched  // results in order; capacity len(src), so sends never block
	done   chan struct{} // closed when run returns

	mu      sync.Mutex
	cond    *sync.Cond
	queued  int64 // bytes computed and not yet taken
	next    int   // index the writer takes next
	started bool
	stopped bool
}

func (p *prefetcher) run() {
	defer close(p.done)
	for _, t := range p.src {
		p.mu.Lock()
		for p.queued > p.budget && !p.stopped {
			p.cond.Wait()
		}
		stopped := p.stopped
		p.mu.Unlock()
		if stopped {
			return
		}
		b, err := t.Data()
		p.mu.Lock()
		p.queued += int64(len(b))
		p.mu.Unlock()
		p.res <- fetched{b, err}
		if err != nil {
			return
		}
	}
}

// take returns tensor i's bytes.
func (p *prefetcher) take(i int) ([]byte, error) {
	p.mu.Lock()
	inOrder := i == p.next && !p.stopped
	if inOrder {
		p.next++
		if !p.started {
			p.started = true
			go p.run()
		}
	}
	p.mu.Unlock()
	if !inOrder {
		return p.src[i].Data()
	}
	r := <-p.res
	p.mu.Lock()
	p.queued -= int64(len(r.b))
	p.cond.Signal()
	p.mu.Unlock()
	if r.err != nil {
		p.stop()
	}
	return r.b, r.err
}

func (p *prefetcher) stop() {
	p.mu.Lock()
	p.stopped = true
	started := p.started
	p.cond.Signal()
	p.mu.Unlock()
	if started {
		<-p.done
	}
}
