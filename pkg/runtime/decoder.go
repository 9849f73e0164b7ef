package runtime

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/qnnkit/qnnkit/pkg/kernels"
	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/quant"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// DMatrix is one weight of the CPU decode model, [Rows][Cols] row-major
// (PyTorch [out][in]), kept in its file format.
type DMatrix struct {
	Name       string
	Rows, Cols int
	// Kind is how products are computed: Q4_K (× Q8_K activations), Q4_0 or
	// Q8_0 (× Q8_0 activations), or F32.
	Kind mllmfmt.DType
	Data []byte    // quantized rows (Kind ≠ F32), a view of the file's map
	F    []float32 // float32 rows (Kind == F32)
	// Expand marks a Q4_K tensor whose rows are not whole blocks: Data is
	// the flat block array and products are float32, each run of rows
	// dequantized just before it is multiplied (matVecExpand).
	Expand bool
}

// loadMatrix reads a decode-model weight. Quantized tensors are stored as
// flat block arrays (the quantize tool cuts 1 M-value chunks, spec §4.3);
// when a row is not a whole number of blocks (e.g. tinyqwen2's down_proj,
// 704 inputs, or Qwen1.5-1.8B's, 5504, under Q4_K) a block straddles two
// rows and no per-row dot product exists, so the tensor is multiplied in
// float32: Q4_K rows are dequantized a few at a time during each product
// (Expand; the file's blocks stay the only copy), other formats without a
// dot product here (Q6_K, F16, ...) are dequantized to float32 at load.
// F32 tensors are views of the file's map where possible.
func loadMatrix(f *mllmfmt.File, name string, rows, cols int) (*DMatrix, error) {
	dt, b, err := f.Tensor(name)
	if err != nil {
		return nil, err
	}
	m := &DMatrix{Name: name, Rows: rows, Cols: cols, Kind: dt}
	n := rows * cols
	switch {
	case dt == mllmfmt.F32:
		if len(b) != 4*n {
			return nil, fmt.Errorf("%s: tensor %q: %d bytes, want F32 [%d][%d]", f.Path, name, len(b), rows, cols)
		}
		m.F = f32View(b)
		return m, nil
	case dt == mllmfmt.Q4_K && cols%quant.QK_K == 0,
		(dt == mllmfmt.Q4_0 || dt == mllmfmt.Q8_0) && cols%64 == 0:
		elems, bs, _ := dt.BlockSize()
		if len(b) != n/elems*bs {
			return nil, fmt.Errorf("%s: tensor %q: %d bytes, want %v [%d][%d] = %d bytes", f.Path, name, len(b), dt, rows, cols, n/elems*bs)
		}
		m.Data = b
		return m, nil
	case dt == mllmfmt.Q4_K && n%quant.QK_K == 0:
		if len(b) != n/quant.QK_K*quant.BlockQ4KBytes {
			return nil, fmt.Errorf("%s: tensor %q: %d bytes, want Q4_K [%d][%d] = %d bytes", f.Path, name, len(b), rows, cols, n/quant.QK_K*quant.BlockQ4KBytes)
		}
		m.Data, m.Expand = b, true
		return m, nil
	}
	fl, err := quant.Dequantize(dt, b, n)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q (%v [%d][%d]): %w", f.Path, name, dt, rows, cols, err)
	}
	m.Kind, m.F = mllmfmt.F32, fl
	return m, nil
}

// rowBytes is the byte length of one quantized row.
func (m *DMatrix) rowBytes() int {
	elems, bs, _ := m.Kind.BlockSize()
	return m.Cols / elems * bs
}

// quantizeRowQ8_0NEON is ggml's quantize_row_q8_0 on ARM NEON (the device
// decode path): d = amax/127 (float32), id = 1/d, q = RNE(x·id), fp16(d)
// stored.
func quantizeRowQ8_0NEON(dst []byte, x []float32) {
	for i := 0; i < len(x)/32; i++ {
		xb := x[32*i : 32*i+32]
		y := dst[i*quant.BlockQ8_0Bytes:]
		var amax float32
		for _, v := range xb {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(y, tensor.F32ToF16(d))
		for j, v := range xb {
			y[2+j] = byte(int8(math.RoundToEven(float64(float32(v * id)))))
		}
	}
}

// MatVec computes out[n] = W[n]·x (+ bias[n]) as CPULinear does (spec
// §5.4): the input row converted to the weight's vec_dot_type (Q8_K for
// Q4_K, Q8_0 for Q4_0/Q8_0), one vec_dot per output, float32 bias added
// after. Output rows are split over threads goroutines.
func (m *DMatrix) MatVec(out, x, bias []float32, threads int) {
	switch m.Kind {
	case mllmfmt.F32:
		kernels.MatMulTThreads(threads, out, x, m.F, bias, 1, m.Rows, m.Cols)
		return
	case mllmfmt.Q4_K:
		if m.Expand {
			m.matVecExpand(out, x, bias, threads)
			return
		}
		a := make([]byte, m.Cols/quant.QK_K*quant.BlockQ8KBytes)
		quant.QuantizeQ8K(a, x)
		rb := m.rowBytes()
		parallelFor(m.Rows, threads, func(lo, hi int) {
			for n := lo; n < hi; n++ {
				out[n] = quant.VecDotQ4KQ8K(m.Cols, m.Data[n*rb:(n+1)*rb], a)
			}
		})
	default: // Q4_0, Q8_0
		a := make([]byte, m.Cols/32*quant.BlockQ8_0Bytes)
		quantizeRowQ8_0NEON(a, x)
		rb := m.rowBytes()
		dot := quant.VecDotQ8_0Q8_0
		if m.Kind == mllmfmt.Q4_0 {
			dot = quant.VecDotQ4_0Q8_0
		}
		parallelFor(m.Rows, threads, func(lo, hi int) {
			for n := lo; n < hi; n++ {
				out[n] = dot(m.Cols, m.Data[n*rb:(n+1)*rb], a)
			}
		})
	}
	if bias != nil {
		for n := range out[:m.Rows] {
			out[n] += bias[n]
		}
	}
}

// row returns row r as float32 (the embedding lookup).
func (m *DMatrix) row(r int, dst []float32) error {
	if m.Kind == mllmfmt.F32 {
		copy(dst, m.F[r*m.Cols:(r+1)*m.Cols])
		return nil
	}
	if m.Expand {
		e0, e1 := r*m.Cols, (r+1)*m.Cols
		b0, b1 := e0/quant.QK_K, (e1+quant.QK_K-1)/quant.QK_K
		f := make([]float32, (b1-b0)*quant.QK_K)
		expandQ4K(f, m.Data[b0*quant.BlockQ4KBytes:b1*quant.BlockQ4KBytes])
		copy(dst, f[e0-b0*quant.QK_K:])
		return nil
	}
	rb := m.rowBytes()
	f, err := quant.Dequantize(m.Kind, m.Data[r*rb:(r+1)*rb], m.Cols)
	if err != nil {
		return err
	}
	copy(dst, f)
	return nil
}

// DecLayer is one layer of the decode model.
type DecLayer struct {
	InputNorm, PostNorm []float32
	Q, K, V, O          *DMatrix
	QB, KB, VB          []float32
	Gate, Up, Down      *DMatrix
}

// Decoder is the CPU decode model (spec §6) over a .mllm file whose
// linears are Q4_K, Q4_0, Q8_0 or F32.
type Decoder struct {
	Config  *model.Config
	Embed   *DMatrix
	Norm    []float32
	LMHead  *DMatrix
	Layers  []DecLayer
	Threads int
	rope    *RoPETable
}

// LoadDecoder reads the decode model f with hyper-parameters cfg.
func LoadDecoder(f *mllmfmt.File, cfg *model.Config, threads int) (*Decoder, error) {
	h, v := cfg.HiddenSize, cfg.VocabSize
	vec := func(name string, n int) ([]float32, error) {
		m, err := loadMatrix(f, name, 1, n)
		if err != nil {
			return nil, err
		}
		if m.Kind != mllmfmt.F32 {
			return nil, fmt.Errorf("%s: tensor %q is %v, want F32", f.Path, name, m.Kind)
		}
		return m.F, nil
	}
	d := &Decoder{Config: cfg, Threads: threads, rope: NewRoPETable(cfg.RopeTheta, cfg.HeadDim)}
	var err error
	if d.Embed, err = loadMatrix(f, "model.embed_tokens.weight", v, h); err != nil {
		return nil, err
	}
	if d.Norm, err = vec("model.norm.weight", h); err != nil {
		return nil, err
	}
	if _, ok := f.Lookup("lm_head.weight"); ok {
		if d.LMHead, err = loadMatrix(f, "lm_head.weight", v, h); err != nil {
			return nil, err
		}
	} else {
		d.LMHead = d.Embed // tied: mm(x, embed_tokensᵀ)
	}
	d.Layers = make([]DecLayer, cfg.NumLayers)
	for i := range d.Layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		L := &d.Layers[i]
		if L.InputNorm, err = vec(p+"input_layernorm.weight", h); err != nil {
			return nil, err
		}
		if L.PostNorm, err = vec(p+"post_attention_layernorm.weight", h); err != nil {
			return nil, err
		}
		for _, s := range []struct {
			dst       **DMatrix
			bias      *[]float32
			name      string
			rows, col int
		}{
			{&L.Q, &L.QB, p + "self_attn.q_proj", cfg.QDim(), h},
			{&L.K, &L.KB, p + "self_attn.k_proj", cfg.KVDim(), h},
			{&L.V, &L.VB, p + "self_attn.v_proj", cfg.KVDim(), h},
			{&L.O, nil, p + "self_attn.o_proj", h, cfg.QDim()},
			{&L.Gate, nil, p + "mlp.gate_proj", cfg.IntermediateSize, h},
			{&L.Up, nil, p + "mlp.up_proj", cfg.IntermediateSize, h},
			{&L.Down, nil, p + "mlp.down_proj", h, cfg.IntermediateSize},
		} {
			if *s.dst, err = loadMatrix(f, s.name+".weight", s.rows, s.col); err != nil {
				return nil, err
			}
			if s.bias != nil && cfg.AttentionBias {
				if *s.bias, err = vec(s.name+".bias", s.rows); err != nil {
					return nil, err
				}
			}
		}
	}
	return d, nil
}

// Formats summarizes the weight formats (for the report line), e.g.
// "embed Q4_0, q/k/v/o Q4_K, gate/up Q4_K, down Q4_K→F32, lm_head Q4_K"
// (→F32: multiplied in float32, see loadMatrix).
func (d *Decoder) Formats() string {
	L := &d.Layers[0]
	k := func(m *DMatrix) string {
		if m.Expand {
			return m.Kind.String() + "→F32"
		}
		return m.Kind.String()
	}
	return fmt.Sprintf("embed %v, q/k/v/o %v, gate/up %v, down %v, lm_head %v",
		k(d.Embed), k(L.Q), k(L.Gate), k(L.Down), k(d.LMHead))
}

// siluVec is mllm_vec_silu_f32 on NEON: groups of 4 as x/(1+v_expf(−x))
// (vdivq), the tail as x/(1+expf(−x)).
func siluVec(x []float32) {
	n := len(x)
	i := 0
	for ; i+3 < n; i += 4 {
		for j := i; j < i+4; j++ {
			x[j] = x[j] / (1 + VExpf(-x[j]))
		}
	}
	for ; i < n; i++ {
		x[i] = x[i] / (1 + expf(-x[i]))
	}
}

// Step runs one token at position cache.Len(0) (spec §6) and returns its
// logits. The token's K/V are appended to cache (fp16).
func (d *Decoder) Step(token int, cache *KVCache) ([]float32, error) {
	c := d.Config
	h := c.HiddenSize
	if token < 0 || token >= c.VocabSize {
		return nil, fmt.Errorf("decoder: token %d outside [0,%d)", token, c.VocabSize)
	}
	pos := cache.Len(0)
	if pos+1 > cache.Capacity {
		return nil, fmt.Errorf("decoder: kv cache full: %d positions used, capacity %d (--limits)", pos, cache.Capacity)
	}
	eps := float32(c.RMSNormEps)
	x := make([]float32, h)
	if err := d.Embed.row(token, x); err != nil {
		return nil, err
	}
	n := make([]float32, h)
	q := make([]float32, c.QDim())
	k := make([]float32, c.KVDim())
	v := make([]float32, c.KVDim())
	a := make([]float32, h)
	g := make([]float32, c.IntermediateSize)
	u := make([]float32, c.IntermediateSize)
	for i := range d.Layers {
		L := &d.Layers[i]
		RMSNorm(NormCPU, n, x, L.InputNorm, 1, eps)
		L.Q.MatVec(q, n, L.QB, d.Threads)
		L.K.MatVec(k, n, L.KB, d.Threads)
		L.V.MatVec(v, n, L.VB, d.Threads)
		for j := range v {
			v[j] = RoundF16(v[j]) // v_proj writes the fp16 cache view
		}
		d.rope.Apply(q, 1, c.NumHeads, pos, false)
		d.rope.Apply(k, 1, c.NumKVHeads, pos, true)
		if err := cache.Append(i, k, v, 1); err != nil {
			return nil, err
		}
		o := cache.attention(AttnFP16, i, q, 1, c.NumHeads, false, d.Threads)
		L.O.MatVec(a, o, nil, d.Threads)
		for j := range x {
			x[j] = a[j] + x[j]
		}
		RMSNorm(NormCPU, n, x, L.PostNorm, 1, eps)
		L.Gate.MatVec(g, n, nil, d.Threads)
		siluVec(g)
		L.Up.MatVec(u, n, nil, d.Threads)
		for j := range g {
			g[j] *= u[j]
		}
		L.Down.MatVec(a, g, nil, d.Threads)
		for j := range x {
			x[j] = a[j] + x[j]
		}
	}
	RMSNorm(NormCPU, n, x, d.Norm, 1, eps)
	logits := make([]float32, c.VocabSize)
	d.LMHead.MatVec(logits, n, nil, d.Threads)
	return logits, nil
}
