package runtime

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/mllmfmt"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/quant"
	"github.com/qnnkit/qnnkit/pkg/tensor"
)

// testFiles are model files synthesized from the bundled tinyqwen2 (no
// rotation): an int8 NPU model built as toolchain spec §4.2/§4.5 describe
// (weights quantized per tensor and stored [in][out], scale keys from the
// absmax of every linear's input and bias-free output over a calibration
// run of the identity graph, every clip flag 1), the FP32 decode model in
// converter.py's layout, and its Q4_K quantization by pkg/quant.
type testFiles struct {
	W                  *model.Weights
	NPU, F32, Q4K, Q40 string
}

var (
	fixtureOnce sync.Once
	fixture     testFiles
	fixtureErr  error
)

func writeMllm(path string, names []string, dtypes []mllmfmt.DType, data [][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := mllmfmt.NewWriter(f, names)
	if err != nil {
		return err
	}
	for i, n := range names {
		if err := w.WriteTensor(n, dtypes[i], data[i]); err != nil {
			return err
		}
	}
	return w.Close()
}

func f32Scalar(v float32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, math.Float32bits(v))
	return b
}

func buildFixture(dir string, w *model.Weights) (testFiles, error) {
	tf := testFiles{W: w, NPU: filepath.Join(dir, "npu.mllm"), F32: filepath.Join(dir, "f32.mllm"),
		Q4K: filepath.Join(dir, "q4k.mllm"), Q40: filepath.Join(dir, "q40.mllm")}
	// Calibration: absmax of inputs and outputs (no bias) per linear.
	type rng struct{ in, out float32 }
	ranges := map[string]*rng{}
	g, err := NewGraph(NPUModelFromWeights(w), GraphOptions{Trace: func(l *QLinear, in, out []float32, rows int) {
		r := ranges[l.Name]
		if r == nil {
			r = &rng{}
			ranges[l.Name] = r
		}
		for _, v := range in {
			r.in = max(r.in, float32(math.Abs(float64(v))))
		}
		for _, v := range out {
			r.out = max(r.out, float32(math.Abs(float64(v))))
		}
	}})
	if err != nil {
		return tf, err
	}
	toks := testTokens(192, w.Config.VocabSize)
	if _, err := NewPrefill(g, 64).AllLogits(toks, g.NewCache(192)); err != nil {
		return tf, err
	}
	var names []string
	var dts []mllmfmt.DType
	var data [][]byte
	add := func(n string, dt mllmfmt.DType, b []byte) {
		names = append(names, n)
		dts = append(dts, dt)
		data = append(data, b)
	}
	var f32n []string
	var f32d [][]byte
	var f32t []mllmfmt.DType
	for _, nt := range w.StateDict() {
		f32n = append(f32n, nt.Name)
		f32t = append(f32t, mllmfmt.F32)
		f32d = append(f32d, tensor.Float32Bytes(nt.Data))
		base := nt.Name[:len(nt.Name)-len(".weight")]
		if r, ok := ranges[base]; ok && len(nt.Shape) == 2 {
			qT, scale, err := quant.QuantizeLinearInt8(nt.Data, nt.Shape[0], nt.Shape[1], false)
			if err != nil {
				return tf, err
			}
			add(nt.Name, mllmfmt.I8, qT)
			add(nt.Name+".scale", mllmfmt.F32, f32Scalar(scale))
			_ = r
			continue
		}
		add(nt.Name, mllmfmt.F32, tensor.Float32Bytes(nt.Data))
	}
	for _, l := range w.Linears() {
		r, ok := ranges[l.Name]
		if !ok {
			continue
		}
		add(l.Name+".input_scale", mllmfmt.F32, f32Scalar(r.in))
		add(l.Name+".output_scale", mllmfmt.F32, f32Scalar(r.out))
		add(l.Name+".clip_input", mllmfmt.I8, []byte{1})
		add(l.Name+".clip_output", mllmfmt.I8, []byte{1})
	}
	if err := writeMllm(tf.NPU, names, dts, data); err != nil {
		return tf, err
	}
	if err := writeMllm(tf.F32, f32n, f32t, f32d); err != nil {
		return tf, err
	}
	in, err := mllmfmt.Open(tf.F32)
	if err != nil {
		return tf, err
	}
	defer in.Close()
	for _, q := range []struct {
		path string
		dt   mllmfmt.DType
	}{{tf.Q4K, mllmfmt.Q4_K}, {tf.Q40, mllmfmt.Q4_0}} {
		out, err := os.Create(q.path)
		if err != nil {
			return tf, err
		}
		_, err = quant.QuantizeFile(in, out, q.dt, quant.FileOptions{})
		out.Close()
		if err != nil {
			return tf, err
		}
	}
	return tf, nil
}

// getFixture builds the files once per test binary in a temporary
// directory that the process removes at exit (TestMain).
func getFixture(t testing.TB) testFiles {
	t.Helper()
	fixtureOnce.Do(func() {
		fixture, fixtureErr = buildFixture(fixtureDir, loadTiny(t))
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

var fixtureDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "runtime-test")
	if err != nil {
		panic(err)
	}
	fixtureDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func openMllm(t testing.TB, path string) *mllmfmt.File {
	t.Helper()
	f, err := mllmfmt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
