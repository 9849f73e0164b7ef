package quant

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/mmapfile"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// fp32Layers are the name fragments mllm's quantize tool keeps in F32
// (mllm v1: tools/quantizer/QuantWriter.cpp fp32_layers).
func fp32Layers() []string {
	return []string{
		"norm", "rope", "bias", "rotary_emb", "_GN", "class_embedding", "embeddings",
		"logit_scale", "modality_preprocessors", "modality_heads", "modality_postprocessors",
		"pre_transformer_layer", "pos_embed.inv_freq", "ln_q", "patch_embed.proj",
	}
}

// q40Layers are the name fragments it always writes as Q4_0.
func q40Layers() []string { return []string{"embed_tokens", "word_embeddings"} }

// findInLayers is find_in_layers: a substring test, with the tool's quirk
// that the exact name "vision_embed_tokens" matches every list.
func findInLayers(name string, frags []string) bool {
	if name == "vision_embed_tokens" {
		return true
	}
	for _, f := range frags {
		if strings.Contains(name, f) {
			return true
		}
	}
	return false
}

// TypeFor is getQuantizationTypeFor of mllm's quantize tool for the block
// targets qnnkit supports: names containing embed_tokens or word_embeddings
// become Q4_0; names containing norm, rope, bias, rotary_emb, _GN,
// class_embedding, embeddings, logit_scale, modality_*, pre_transformer_layer,
// pos_embed.inv_freq, ln_q or patch_embed.proj stay F32; everything else
// becomes target. (Its Q6_K and Q2_K lists are empty, so they never apply.)
//
// One qnnkit addition: names ending in "scale" (the 0-dim `.weight.scale`,
// `.input_scale`, `.output_scale` of a QNN export) stay F32; mllm's tool
// would try to block-quantize a single float there. No tensor of a plain
// checkpoint is affected except such scales, which mllm's rules already keep
// F32 when they contain "logit_scale".
func TypeFor(name string, target mllmfmt.DType) mllmfmt.DType {
	if findInLayers(name, q40Layers()) {
		return mllmfmt.Q4_0
	}
	if findInLayers(name, fp32Layers()) || strings.HasSuffix(name, "scale") {
		return mllmfmt.F32
	}
	return target
}

// Targets are the quantize tool's type names qnnkit implements.
func Targets() map[string]mllmfmt.DType {
	return map[string]mllmfmt.DType{
		"Q4_0": mllmfmt.Q4_0, "Q8_0": mllmfmt.Q8_0, "Q4_K": mllmfmt.Q4_K,
		"Q6_K": mllmfmt.Q6_K, "Q8_K": mllmfmt.Q8_K,
	}
}

// FileOptions tunes QuantizeFile.
type FileOptions struct {
	// KeepOrder writes tensors in the input's index order instead of mllm's
	// alphabetical (std::map) order. The runtime does not care about the
	// order; only the alphabetical one gives files identical to mllm's.
	KeepOrder bool
	// Progress, when set, is called before each tensor is written.
	Progress func(i, n int, name string, from, to mllmfmt.DType)
}

// chunkValues is how many values are quantized at a time: mllm's 1 M-float
// read chunk, a multiple of every block size, so chunking never changes
// the bytes; it bounds memory to a few chunks whatever the tensor size.
const chunkValues = 1 << 20

// PlanEntry is one output tensor of QuantizeFile.
type PlanEntry struct {
	Name   string
	Source string        // input tensor read (model.embed_tokens.weight for a synthesized lm_head)
	From   mllmfmt.DType // input dtype
	To     mllmfmt.DType // output dtype
}

// Plan lists what QuantizeFile writes, in output order, and checks every
// tensor up front: F32 inputs (or I8, copied untouched), a whole number of
// blocks, and names the .mllm writer will not rename.
func Plan(in *mllmfmt.File, target mllmfmt.DType, opt FileOptions) ([]PlanEntry, error) {
	if _, err := FormatOf(target); err != nil {
		return nil, fmt.Errorf("target type: %w", err)
	}
	var names []string
	for _, e := range in.Entries {
		names = append(names, e.Name)
	}
	if !opt.KeepOrder {
		sort.Strings(names) // std::map<std::string,…> order: bytewise
	}
	_, hasHead := in.Lookup("lm_head.weight")
	_, hasEmbed := in.Lookup("model.embed_tokens.weight")
	var plan []PlanEntry
	for _, n := range names {
		e, _ := in.Lookup(n)
		plan = append(plan, PlanEntry{Name: n, Source: n, From: e.DType, To: TypeFor(n, target)})
	}
	if !hasHead && hasEmbed {
		e, _ := in.Lookup("model.embed_tokens.weight")
		plan = append(plan, PlanEntry{Name: "lm_head.weight", Source: "model.embed_tokens.weight", From: e.DType, To: TypeFor("lm_head.weight", target)})
	}
	for i, p := range plan {
		if strings.Contains(p.Name, "_weight") || strings.Contains(p.Name, "_bias") {
			return nil, fmt.Errorf("%s: tensor %q: names containing _weight or _bias are renamed by the .mllm index writer (converter.py semantics) but not by mllm's quantize; refusing to write a different name", in.Path, p.Name)
		}
		e, _ := in.Lookup(p.Source)
		switch p.From {
		case mllmfmt.I8:
			// int8 tensors (QNN exports) are copied untouched; mllm's tool
			// would misread them as floats.
			plan[i].To = mllmfmt.I8
			continue
		case mllmfmt.F32:
		default:
			return nil, fmt.Errorf("%s: tensor %q has dtype %v; only F32 (and untouched I8) inputs can be quantized", in.Path, p.Source, p.From)
		}
		if e.Size%4 != 0 {
			return nil, fmt.Errorf("%s: tensor %q: %d bytes is not a whole number of float32", in.Path, p.Source, e.Size)
		}
		if p.To != mllmfmt.F32 {
			f, _ := FormatOf(p.To)
			if _, err := f.Size(int(e.Size / 4)); err != nil {
				return nil, fmt.Errorf("%s: tensor %q → %v: %w", in.Path, p.Source, p.To, err)
			}
		}
	}
	return plan, nil
}

// QuantizeFile writes the .mllm file mllm's `quantize IN OUT TYPE` writes,
// tensor by tensor, to w. By default the tensors are in alphabetical order
// and a missing lm_head.weight is synthesized from model.embed_tokens.weight
// at the end, so the output is byte-identical to mllm's. It returns the
// number of tensors written.
//
// Tensors are cut into 1 M-value chunks that GOMAXPROCS workers quantize
// ahead of the writer (a few chunks in flight, across tensor boundaries), so
// every core quantizes while the output is written; memory stays bounded by
// the chunks in flight.
//
// The file is written front to back (its final index first), so w may
// hash it as it goes (manifest.HashWriter).
func QuantizeFile(in *mllmfmt.File, w io.Writer, target mllmfmt.DType, opt FileOptions) (int, error) {
	plan, err := Plan(in, target, opt)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(plan))
	dtypes := make([]mllmfmt.DType, len(plan))
	sizes := make([]uint64, len(plan))
	for i, p := range plan {
		names[i], dtypes[i] = p.Name, p.To
		e, _ := in.Lookup(p.Source)
		sizes[i] = e.Size
		if p.To != mllmfmt.F32 && p.To != mllmfmt.I8 {
			f, _ := FormatOf(p.To)
			n, _ := f.Size(int(e.Size / 4)) // Plan checked both
			sizes[i] = uint64(n)
		}
	}
	mw, err := mllmfmt.NewWriterSized(w, names, dtypes, sizes)
	if err != nil {
		return 0, err
	}
	pipe := startChunkPipeline(in, plan, runtime.GOMAXPROCS(0))
	defer pipe.stop()
	// The tensors copied as they are (norms, biases) come from a stream
	// of their own: on a cold input, touching each through the map
	// would read the device's read-ahead window (megabytes) around it.
	var raw []mllmfmt.Entry
	for _, p := range plan {
		if p.To == mllmfmt.F32 || p.To == mllmfmt.I8 {
			e, _ := in.Lookup(p.Source)
			raw = append(raw, e)
		}
	}
	rawStream := in.Stream(raw, 4*chunkValues)
	defer rawStream.Close()
	for i, p := range plan {
		if opt.Progress != nil {
			opt.Progress(i, len(plan), p.Name, p.From, p.To)
		}
		e, _ := in.Lookup(p.Source)
		size := int(e.Size)
		if p.To == mllmfmt.F32 || p.To == mllmfmt.I8 {
			err := mw.WriteTensorFrom(p.Name, p.To, func(out io.Writer) (int64, error) {
				return copyChunks(out, rawStream, int64(e.Size))
			})
			if err != nil {
				return 0, fmt.Errorf("%s: %w", in.Path, err)
			}
			continue
		}
		err := mw.WriteTensorFrom(p.Name, p.To, func(out io.Writer) (int64, error) {
			var total int64
			for off := 0; off < size; off += 4 * chunkValues {
				end := min(size, off+4*chunkValues)
				q, err := pipe.next()
				if err != nil {
					return total, fmt.Errorf("values %d..%d: %w", off/4, end/4, err)
				}
				n, err := out.Write(q)
				total += int64(n)
				pipe.recycle(q)
				if err != nil {
					return total, err
				}
			}
			return total, nil
		})
		if err != nil {
			return 0, fmt.Errorf("%s: %w", in.Path, err)
		}
		// No Release here: the stream releases each chunk's pages once
		// it is quantized, so a few chunks at most are resident.
	}
	return len(plan), mw.Close()
}

// copyChunks writes the next n bytes of s to w.
func copyChunks(w io.Writer, s *mmapfile.Stream, n int64) (int64, error) {
	var total int64
	for total < n {
		c, release, err := s.Next()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return total, err
		}
		k, err := w.Write(c)
		release()
		total += int64(k)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// chunkJob is one chunk of one tensor to quantize.
type chunkJob struct {
	f       Format
	data    []byte // little-endian float32 input
	release func() // called once data is no longer used
	res     chan chunkResult
}

type chunkResult struct {
	q   []byte
	err error
}

// chunkPipeline quantizes the chunks of a plan's block-quantized tensors in
// plan order on worker goroutines; next returns their results in order.
type chunkPipeline struct {
	order chan *chunkJob // jobs in plan order, at most cap(order) ahead of next
	free  chan []byte    // output buffers handed back by the writer
	done  chan struct{}
	wg    sync.WaitGroup
}

func startChunkPipeline(in *mllmfmt.File, plan []PlanEntry, workers int) *chunkPipeline {
	workers = max(1, workers)
	p := &chunkPipeline{
		order: make(chan *chunkJob, 2*workers),
		free:  make(chan []byte, 3*workers),
		done:  make(chan struct{}),
	}
	// One stream over every block-quantized tensor, in plan order: a cold
	// input (the previous step wrote it around the page cache) is read
	// with O_DIRECT a few chunks ahead of the workers, across tensors,
	// not page fault by page fault.
	var entries []mllmfmt.Entry
	var formats []Format
	for _, pe := range plan {
		if pe.To == mllmfmt.F32 || pe.To == mllmfmt.I8 {
			continue
		}
		f, _ := FormatOf(pe.To) // Plan checked it
		e, _ := in.Lookup(pe.Source)
		entries = append(entries, e)
		formats = append(formats, f)
	}
	jobs := make(chan *chunkJob)
	p.wg.Add(1 + workers)
	go func() {
		defer p.wg.Done()
		defer close(jobs)
		s := in.Stream(entries, 4*chunkValues)
		defer s.Close()
		for i, e := range entries {
			if !p.dispatch(s, formats[i], (int(e.Size)+4*chunkValues-1)/(4*chunkValues), jobs) {
				return
			}
		}
	}()
	for range workers {
		go func() {
			defer p.wg.Done()
			x := make([]float32, chunkValues)
			for j := range jobs {
				q, err := p.quantizeChunk(j, x)
				j.res <- chunkResult{q, err}
			}
		}()
	}
	return p
}

// dispatch hands the next n chunks of s (one tensor's) to the workers
// (jobs) and queues them in order; false when the pipeline was stopped or
// a read failed (the error is then queued in order).
func (p *chunkPipeline) dispatch(s *mmapfile.Stream, f Format, n int, jobs chan<- *chunkJob) bool {
	for range n {
		c, release, err := s.Next()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the stream has this many chunks
		}
		j := &chunkJob{f: f, data: c, release: release, res: make(chan chunkResult, 1)}
		if err != nil {
			j.res <- chunkResult{nil, err}
		} else {
			select {
			case jobs <- j:
			case <-p.done:
				release()
				return false
			}
		}
		select {
		case p.order <- j:
		case <-p.done:
			return false
		}
		if err != nil {
			return false
		}
	}
	return true
}

// next waits for the next chunk in plan order.
func (p *chunkPipeline) next() ([]byte, error) {
	j := <-p.order
	r := <-j.res
	return r.q, r.err
}

// recycle hands a written chunk's buffer back for reuse.
func (p *chunkPipeline) recycle(q []byte) {
	select {
	case p.free <- q:
	default:
	}
}

// stop cancels the chunks not yet dispatched and waits for every worker,
// so none reads the input after QuantizeFile returns.
func (p *chunkPipeline) stop() {
	close(p.done)
	p.wg.Wait()
}

// quantizeChunk decodes, checks and quantizes one chunk on the calling
// goroutine, with x as scratch (chunkValues long).
func (p *chunkPipeline) quantizeChunk(j *chunkJob, x []float32) ([]byte, error) {
	if len(j.data)%4 != 0 {
		j.release()
		return nil, fmt.Errorf("%d bytes is not a whole number of float32", len(j.data))
	}
	x = x[:len(j.data)/4]
	// One pass copies the chunk and finds a NaN or Inf; the input buffer
	// goes back to the stream for the next read at once.
	i, err := tensor.ToFloat32Finite(tensor.F32, j.data, x)
	j.release()
	if err != nil {
		return nil, err
	}
	if i >= 0 {
		return nil, fmt.Errorf("element %d is %v (NaN and Inf cannot be quantized)", i, x[i])
	}
	n, err := j.f.Size(len(x))
	if err != nil {
		return nil, err
	}
	var q []byte
	select {
	case b := <-p.free:
		if cap(b) >= n {
			q = b[:n]
		}
	default:
	}
	if q == nil {
		q = make([]byte, n)
	}
	j.f.Quantize(q, x)
	return q, nil
}
