package mllmfmt

import (
	"bytes"
	"strings"
	"testing"
)

// TestWriterSizedSameBytes: the index written first equals the one Close
// patches in, so both writers give the same file; a tensor that differs
// from its declaration is refused.
func TestWriterSizedSameBytes(t *testing.T) {
	names := []string{"model.embed_tokens.weight", "layers_0_weight", "x.bias"}
	dtypes := []DType{F32, I8, F32}
	data := [][]byte{bytes.Repeat([]byte{1, 2, 3, 4}, 6), {9, 8, 7}, make([]byte, 8)}
	sizes := []uint64{24, 3, 8}

	var a seekBuffer
	wa, err := NewWriter(&a, names)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	wb, err := NewWriterSized(&b, names, dtypes, sizes)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if err := wa.WriteTensor(n, dtypes[i], data[i]); err != nil {
			t.Fatal(err)
		}
		if err := wb.WriteTensor(n, dtypes[i], data[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := wa.Close(); err != nil {
		t.Fatal(err)
	}
	if err := wb.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.b, b.Bytes()) {
		t.Fatalf("NewWriterSized wrote %d bytes differing from NewWriter's %d", b.Len(), len(a.b))
	}

	var c bytes.Buffer
	wc, err := NewWriterSized(&c, names, dtypes, sizes)
	if err != nil {
		t.Fatal(err)
	}
	if err := wc.WriteTensor(names[0], F32, data[0][:20]); err == nil || !strings.Contains(err.Error(), "declared 24 bytes") {
		t.Fatalf("short tensor: err %v", err)
	}
	if _, err := NewWriterSized(&c, names, dtypes, sizes[:2]); err == nil {
		t.Fatal("mismatched sizes accepted")
	}
}
