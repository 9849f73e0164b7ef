// Package eval measures language-model quality over token windows:
// perplexity (mean next-token negative log-likelihood) and the agreement of
// two logit sets (KL divergence, top-1 agreement), e.g. a quantized runtime
// against the float32 forward.
//
// Every log-softmax is evaluated in float64 from float32 logits.
//
// # Perplexity protocol
//
// The token stream is cut into non-overlapping windows of Ctx consecutive
// ids, window w starting at id Ctx·w; only full windows are used. Each
// window is run independently from position 0 (no state carried between
// windows) on its first Ctx−1 ids, and the log-probabilities of ids
// 1..Ctx−1 of the window are scored. ppl = exp(total NLL / count).
package eval

import (
	"fmt"
	"math"
	"time"
)

// DefaultCtx is the default window length.
const DefaultCtx = 512

// LogSoftmax writes log softmax(logits) to dst (len(dst) ≥ len(logits)) in
// float64: x_i − max − log Σ exp(x_j − max).
func LogSoftmax(dst []float64, logits []float32) {
	if len(logits) == 0 {
		return
	}
	m := float64(logits[0])
	for _, v := range logits[1:] {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - m)
	}
	lse := m + math.Log(s)
	for i, v := range logits {
		dst[i] = float64(v) - lse
	}
}

// NLL accumulates next-token negative log-likelihoods.
type NLL struct {
	Sum   float64 // total negative log-likelihood (nats)
	Count int     // number of scored tokens
}

// Add scores targets against logits ([len(targets)][vocab]): row r is the
// distribution of targets[r]. It fails on a shape mismatch, a target
// outside the vocabulary or a non-finite result.
func (a *NLL) Add(logits []float32, vocab int, targets []int) error {
	if vocab <= 0 || len(logits) != len(targets)*vocab {
		return fmt.Errorf("eval: %d logits for %d targets of vocabulary %d", len(logits), len(targets), vocab)
	}
	lp := make([]float64, vocab)
	var sum float64
	for r, t := range targets {
		if t < 0 || t >= vocab {
			return fmt.Errorf("eval: target %d at row %d is outside the vocabulary [0,%d)", t, r, vocab)
		}
		LogSoftmax(lp, logits[r*vocab:(r+1)*vocab])
		sum -= lp[t]
	}
	if math.IsNaN(sum) || math.IsInf(sum, 0) {
		return fmt.Errorf("eval: non-finite negative log-likelihood %v over %d targets", sum, len(targets))
	}
	a.Sum += sum
	a.Count += len(targets)
	return nil
}

// Merge adds b's totals to a.
func (a *NLL) Merge(b NLL) { a.Sum += b.Sum; a.Count += b.Count }

// Mean is Sum/Count (NaN when empty).
func (a *NLL) Mean() float64 { return a.Sum / float64(a.Count) }

// PPL is exp(Sum/Count) (NaN when empty).
func (a *NLL) PPL() float64 { return math.Exp(a.Mean()) }

// Agreement compares test logits against reference logits row by row.
type Agreement struct {
	Rows  int     // rows compared
	KLSum float64 // Σ KL(ref ‖ test) in nats
	KLMax float64 // largest per-row KL
	Top1  int     // rows whose argmax (first index on ties) agrees
}

// Add compares ref and test, both [rows][vocab].
func (a *Agreement) Add(ref, test []float32, vocab int) error {
	if vocab <= 0 || len(ref) != len(test) || len(ref)%vocab != 0 {
		return fmt.Errorf("eval: agreement of %d reference and %d test logits with vocabulary %d", len(ref), len(test), vocab)
	}
	lp := make([]float64, vocab)
	lq := make([]float64, vocab)
	for r := 0; r < len(ref)/vocab; r++ {
		rr, tr := ref[r*vocab:(r+1)*vocab], test[r*vocab:(r+1)*vocab]
		LogSoftmax(lp, rr)
		LogSoftmax(lq, tr)
		var kl float64
		for i, p := range lp {
			if e := math.Exp(p); e > 0 {
				kl += e * (p - lq[i])
			}
		}
		if math.IsNaN(kl) || math.IsInf(kl, 0) {
			return fmt.Errorf("eval: non-finite KL divergence %v at row %d", kl, r)
		}
		kl = math.Max(kl, 0) // rounding can give −1e-17
		a.KLSum += kl
		a.KLMax = math.Max(a.KLMax, kl)
		if argmax(rr) == argmax(tr) {
			a.Top1++
		}
		a.Rows++
	}
	return nil
}

// Merge adds b's totals to a.
func (a *Agreement) Merge(b Agreement) {
	a.Rows += b.Rows
	a.KLSum += b.KLSum
	a.KLMax = math.Max(a.KLMax, b.KLMax)
	a.Top1 += b.Top1
}

// MeanKL is the mean per-row KL(ref ‖ test) in nats (NaN when empty).
func (a *Agreement) MeanKL() float64 { return a.KLSum / float64(a.Rows) }

// Top1Rate is the fraction of rows whose argmax agrees (NaN when empty).
func (a *Agreement) Top1Rate() float64 { return float64(a.Top1) / float64(a.Rows) }

func argmax(x []float32) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}

// LogitsFunc returns the logits ([len(ids)][vocab]) of one independent
// sequence at positions 0..len(ids)−1.
type LogitsFunc func(ids []int) ([]float32, error)

// Options configures Perplexity.
type Options struct {
	Ctx        int // window length; 0 means DefaultCtx
	MaxWindows int // use at most this many windows; 0 means all
	// Progress, when non-nil, is called after each window.
	Progress func(done, total int)
}

// NumWindows is the number of full windows of ctx ids in n ids, capped at
// maxWindows when that is positive.
func NumWindows(n, ctx, maxWindows int) int {
	if ctx <= 0 {
		return 0
	}
	w := n / ctx
	if maxWindows > 0 {
		w = min(w, maxWindows)
	}
	return w
}

// Window returns window w (ids[ctx·w : ctx·(w+1)]).
func Window(ids []int, ctx, w int) []int { return ids[ctx*w : ctx*(w+1)] }

// Result is a perplexity run's outcome.
type Result struct {
	NLL
	Windows int           // windows evaluated
	Elapsed time.Duration // time spent in the LogitsFunc calls
}

// Perplexity evaluates ids with the protocol in the package comment. It
// fails when there is not a single full window (or Ctx < 2), and on any
// LogitsFunc or shape error, naming the window.
func Perplexity(ids []int, vocab int, opt Options, f LogitsFunc) (Result, error) {
	ctx := opt.Ctx
	if ctx == 0 {
		ctx = DefaultCtx
	}
	if ctx < 2 {
		return Result{}, fmt.Errorf("eval: window length %d is less than 2", ctx)
	}
	nw := NumWindows(len(ids), ctx, opt.MaxWindows)
	if nw == 0 {
		return Result{}, fmt.Errorf("eval: %d tokens do not fill one window of %d", len(ids), ctx)
	}
	var res Result
	for w := 0; w < nw; w++ {
		win := Window(ids, ctx, w)
		t0 := time.Now()
		lg, err := f(win[:ctx-1])
		res.Elapsed += time.Since(t0)
		if err != nil {
			return res, fmt.Errorf("eval: window %d (ids %d..%d): %w", w, ctx*w, ctx*(w+1)-1, err)
		}
		if err := res.Add(lg, vocab, win[1:]); err != nil {
			return res, fmt.Errorf("window %d (ids %d..%d): %w", w, ctx*w, ctx*(w+1)-1, err)
		}
		res.Windows++
		if opt.Progress != nil {
			opt.Progress(w+1, nw)
		}
	}
	return res, nil
}
