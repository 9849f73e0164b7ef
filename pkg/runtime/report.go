package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/qnnkit/qnnkit/pkg/eval"
)

// ReportOptions configures the accuracy report.
type ReportOptions struct {
	Ctx        int // window length (eval protocol); 0: eval.DefaultCtx
	MaxWindows int // 0: every full window
	// Progress, when non-nil, is called after each window.
	Progress func(done, total int)
}

// Column is one configuration's result over the report's windows.
type Column struct {
	Name  string
	NLL   eval.NLL
	Agree eval.Agreement // against FP32 (empty when there is no reference)
	Time  time.Duration
}

// PPL is the column's perplexity.
func (c *Column) PPL() float64 { return c.NLL.PPL() }

// Report is the accuracy table of `run --ppl` with the deployed pair:
// FP32 reference, NPU-emulated prefill on every row, and the deployed pair
// (the first half of each window prefilled by the NPU emulation, the
// second half teacher-forced through the CPU decoder), plus the decoded
// rows of the pair on their own.
type Report struct {
	Tokens  int // tokens in the file
	Windows int
	Ctx     int
	FP32    *Column // nil without a reference model
	NPU     Column
	Pair    Column
	Decoded Column // the pair's decoder rows only
	// FP32Decoded is the FP32 reference scored on the decoder rows only
	// (nil without a reference), for comparison with Decoded.
	FP32Decoded *eval.NLL
}

// Evaluate builds the report over ids. ref returns FP32 logits for a
// window's inputs (nil: no reference). All columns score the same rows:
// rows 0..ctx−2 of each window predict ids 1..ctx−1.
//
// The NPU prefill runs once per window over all ctx−1 inputs (lm_head on
// every row). The deployed pair reuses its first h = (ctx−1)/2 rows and
// KV entries — identical to prefilling only those h tokens, since chunk
// boundaries are the same and padded rows cannot reach real rows — then
// resets the cache to h and feeds ids h..ctx−2 to the decoder.
func Evaluate(ids []int, p *Prefill, dec *Decoder, ref eval.LogitsFunc, opt ReportOptions) (*Report, error) {
	ctx := opt.Ctx
	if ctx == 0 {
		ctx = eval.DefaultCtx
	}
	if ctx < 4 {
		return nil, fmt.Errorf("report: window length %d is less than 4", ctx)
	}
	nw := eval.NumWindows(len(ids), ctx, opt.MaxWindows)
	if nw == 0 {
		return nil, fmt.Errorf("report: %d tokens do not fill one window of %d", len(ids), ctx)
	}
	cfg := p.G.M.Config
	V := cfg.VocabSize
	r := &Report{Tokens: len(ids), Windows: nw, Ctx: ctx,
		NPU: Column{Name: "npu_prefill"}, Pair: Column{Name: "deployed_pair"}, Decoded: Column{Name: "decoded_half"}}
	if ref != nil {
		r.FP32 = &Column{Name: "fp32"}
		r.FP32Decoded = &eval.NLL{}
	}
	n := ctx - 1
	h := n / 2
	capacity := (n + p.Chunk - 1) / p.Chunk * p.Chunk
	for w := 0; w < nw; w++ {
		win := eval.Window(ids, ctx, w)
		in, tgt := win[:n], win[1:]
		var refL []float32
		if ref != nil {
			t0 := time.Now()
			var err error
			if refL, err = ref(in); err != nil {
				return nil, fmt.Errorf("report: window %d: fp32: %w", w, err)
			}
			r.FP32.Time += time.Since(t0)
			if err := r.FP32.NLL.Add(refL, V, tgt); err != nil {
				return nil, fmt.Errorf("report: window %d: %w", w, err)
			}
			if err := r.FP32Decoded.Add(refL[h*V:], V, tgt[h:]); err != nil {
				return nil, fmt.Errorf("report: window %d: %w", w, err)
			}
		}
		cache := NewKVCache(cfg.NumLayers, cfg.NumKVHeads, cfg.HeadDim, capacity)
		t0 := time.Now()
		npu, err := p.AllLogits(in, cache)
		if err != nil {
			return nil, fmt.Errorf("report: window %d: npu prefill: %w", w, err)
		}
		r.NPU.Time += time.Since(t0)
		cache.SetLen(h)
		pair := make([]float32, n*V)
		copy(pair, npu[:h*V])
		t1 := time.Now()
		for pos := h; pos < n; pos++ {
			lg, err := dec.Step(in[pos], cache)
			if err != nil {
				return nil, fmt.Errorf("report: window %d: decoder at position %d: %w", w, pos, err)
			}
			copy(pair[pos*V:], lg)
		}
		r.Decoded.Time += time.Since(t1)
		for _, c := range []struct {
			col    *Column
			logits []float32
			lo     int
		}{{&r.NPU, npu, 0}, {&r.Pair, pair, 0}, {&r.Decoded, pair, h}} {
			if err := c.col.NLL.Add(c.logits[c.lo*V:], V, tgt[c.lo:]); err != nil {
				return nil, fmt.Errorf("report: window %d: %s: %w", w, c.col.Name, err)
			}
			if refL != nil {
				if err := c.col.Agree.Add(refL[c.lo*V:], c.logits[c.lo*V:], V); err != nil {
					return nil, fmt.Errorf("report: window %d: %s: %w", w, c.col.Name, err)
				}
			}
		}
		if opt.Progress != nil {
			opt.Progress(w+1, nw)
		}
	}
	return r, nil
}

// Format writes the table.
func (r *Report) Format(w io.Writer) {
	fmt.Fprintf(w, "windows: %d x %d tokens (scored tokens per column: %d of %d in the file)\n", r.Windows, r.Ctx, r.NPU.NLL.Count, r.Tokens)
	fmt.Fprintf(w, "%-28s %12s %10s %8s %10s\n", "configuration", "perplexity", "KL(fp32‖·)", "top-1", "tokens/s")
	rate := func(c *Column, rows int) string {
		if c.Time <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", float64(rows)/c.Time.Seconds())
	}
	agree := func(c *Column) (string, string) {
		if r.FP32 == nil {
			return "n/a", "n/a"
		}
		return fmt.Sprintf("%.5f", c.Agree.MeanKL()), fmt.Sprintf("%.4f", c.Agree.Top1Rate())
	}
	if r.FP32 != nil {
		fmt.Fprintf(w, "%-28s %12.4f %10s %8s %10s\n", "fp32 reference", r.FP32.PPL(), "-", "-", rate(r.FP32, r.FP32.NLL.Count))
	} else {
		fmt.Fprintf(w, "%-28s %12s %10s %8s %10s\n", "fp32 reference", "n/a", "-", "-", "-")
	}
	kl, t1 := agree(&r.NPU)
	fmt.Fprintf(w, "%-28s %12.4f %10s %8s %10s\n", "npu prefill (all rows)", r.NPU.PPL(), kl, t1, rate(&r.NPU, r.NPU.NLL.Count))
	kl, t1 = agree(&r.Pair)
	fmt.Fprintf(w, "%-28s %12.4f %10s %8s %10s\n", "deployed pair", r.Pair.PPL(), kl, t1, "-")
	kl, t1 = agree(&r.Decoded)
	fmt.Fprintf(w, "%-28s %12.4f %10s %8s %10s\n", "  of which decoder rows", r.Decoded.PPL(), kl, t1, rate(&r.Decoded, r.Decoded.NLL.Count))
	if r.FP32Decoded != nil {
		fmt.Fprintf(w, "%-28s %12.4f\n", "  fp32 on the decoder rows", r.FP32Decoded.PPL())
	}
	if r.FP32 != nil {
		fmt.Fprintf(w, "deployed pair vs fp32 perplexity: %+.2f%%\n", 100*(r.Pair.PPL()/r.FP32.PPL()-1))
	}
}

// JSON returns the one-line summary object of --json:
// {"fp32": {"ppl": …}, "npu_prefill": {"ppl", "kl", "top1"},
// "deployed_pair": {…}, "tokens": …} (fp32 is null without a reference,
// kl/top1 are null then too); "tokens" is the number of scored tokens.
func (r *Report) JSON() ([]byte, error) {
	num := func(v float64) any {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return v
	}
	col := func(c *Column) map[string]any {
		m := map[string]any{"ppl": num(c.PPL()), "kl": nil, "top1": nil}
		if r.FP32 != nil {
			m["kl"] = num(c.Agree.MeanKL())
			m["top1"] = num(c.Agree.Top1Rate())
		}
		return m
	}
	out := map[string]any{
		"fp32":          nil,
		"npu_prefill":   col(&r.NPU),
		"deployed_pair": col(&r.Pair),
		"decoded_half":  col(&r.Decoded),
		"tokens":        r.NPU.NLL.Count,
		"windows":       r.Windows,
		"ctx":           r.Ctx,
	}
	if r.FP32 != nil {
		out["fp32"] = map[string]any{"ppl": num(r.FP32.PPL()), "ppl_decoded_half": num(r.FP32Decoded.PPL())}
	}
	return json.Marshal(out)
}
