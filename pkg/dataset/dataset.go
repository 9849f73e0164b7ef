// Package dataset reads calibration and evaluation text the way mllm's
// profiling script does, without Python and in bounded memory.
//
// mllm's get_distribution.py loads `<dataset_path>/val.jsonl.zst` with HF
// datasets, calls `dataset.shuffle(seed=42)` and tokenizes
// `sample["text"][:6000]` for the samples in shuffled order. Open accepts:
//
//   - a directory: `<dir>/val.jsonl.zst` if present (mllm's layout), else
//     the directory's `*.parquet` shards in name order;
//   - `.jsonl` / `.json` (JSON lines) and `.jsonl.zst` / `.zst`: one sample
//     per non-blank line, its string field "text" (exact key); blank lines
//     are skipped, as pyarrow's JSON reader does;
//   - `.parquet`: one sample per row of the "text" column;
//   - `.txt`: one sample per paragraph, exactly like HF
//     `load_dataset("text", sample_by="paragraph")`: newlines are
//     normalized as Python's universal newlines do ("\r\n" and "\r" become
//     "\n"), the text is split on "\n\n" (non-overlapping, left to right)
//     and empty pieces are dropped. A file without blank lines is one
//     sample.
//
// Shuffled gives samples in the order of HF's shuffle(seed), i.e.
// Permutation(seed, Len()) — NumPy's default_rng(seed).permutation.
//
// Memory: Open makes one streaming pass and keeps O(1) words per sample
// (offset, length, line number), never the text. Plain files are then read
// with ReadAt. A zstd stream cannot seek, so Shuffled collects the requested
// samples in batches of at most BatchBytes of (decompressed) text, each
// batch costing one decompression pass; parquet is read the same way with
// row seeks.
package dataset

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// DefaultBatchBytes is the default Dataset.BatchBytes.
const DefaultBatchBytes = 256 << 20

// MaxTextRunes is mllm's per-sample truncation: `sample["text"][:6000]`.
const MaxTextRunes = 6000

type format int

const (
	fmtJSONL format = iota
	fmtJSONLZst
	fmtParquet
	fmtText
)

// Dataset is an indexed, read-only collection of text samples.
type Dataset struct {
	// BatchBytes bounds the text held at once while collecting samples
	// from compressed or parquet inputs (default DefaultBatchBytes).
	BatchBytes int64

	path  string
	kind  format
	file  *os.File // plain jsonl / txt
	off   []int64  // start of each sample (decompressed offset for zst)
	size  []int64  // byte length of each sample as stored
	line  []int32  // 1-based line of each jsonl sample
	shard []parquetShard
}

// Sample is one text in iteration order; Index is its row in file order.
type Sample struct {
	Index int
	Text  string
}

// Open indexes the dataset at path (see the package comment for the
// accepted layouts).
func Open(path string) (*Dataset, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	d := &Dataset{BatchBytes: DefaultBatchBytes, path: path}
	if st.IsDir() {
		mllm := filepath.Join(path, "val.jsonl.zst")
		if _, err := os.Stat(mllm); err == nil {
			d.path = mllm
			return d, d.openJSONL(true)
		}
		shards, err := filepath.Glob(filepath.Join(path, "*.parquet"))
		if err != nil {
			return nil, fmt.Errorf("dataset %s: %w", path, err)
		}
		if len(shards) == 0 {
			return nil, fmt.Errorf("dataset %s: directory has neither val.jsonl.zst nor *.parquet shards", path)
		}
		sort.Strings(shards)
		return d, d.openParquet(shards)
	}
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".jsonl.zst"), strings.HasSuffix(lower, ".json.zst"), strings.HasSuffix(lower, ".zst"):
		return d, d.openJSONL(true)
	case strings.HasSuffix(lower, ".jsonl"), strings.HasSuffix(lower, ".json"):
		return d, d.openJSONL(false)
	case strings.HasSuffix(lower, ".parquet"):
		return d, d.openParquet([]string{path})
	case strings.HasSuffix(lower, ".txt"):
		return d, d.openText()
	}
	return nil, fmt.Errorf("dataset %s: unknown format (want a directory, .jsonl, .jsonl.zst, .parquet or .txt)", path)
}

// Len is the number of samples.
func (d *Dataset) Len() int {
	if d.kind == fmtParquet {
		n := 0
		for _, s := range d.shard {
			n += int(s.rows)
		}
		return n
	}
	return len(d.off)
}

// Path is the file (or, for parquet shards, the first shard) being read.
func (d *Dataset) Path() string { return d.path }

// Close releases the open file, if any.
func (d *Dataset) Close() error {
	if d.file != nil {
		err := d.file.Close()
		d.file = nil
		return err
	}
	return nil
}

// Truncate returns the first n code points of s (Python's s[:n]).
func Truncate(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if len(s) <= n {
		return s
	}
	i := 0
	for k := 0; k < n; k++ {
		if i >= len(s) {
			return s
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return s[:i]
}

// Shuffled yields the first n samples (all when n ≤ 0 or n > Len) in the
// order of HF datasets' shuffle(seed): Permutation(seed, Len()). Iteration
// stops after the first error, which is yielded with a zero Sample.
func (d *Dataset) Shuffled(seed uint64, n int) iter.Seq2[Sample, error] {
	perm := Permutation(seed, d.Len())
	if n > 0 && n < len(perm) {
		perm = perm[:n]
	}
	return d.InOrder(perm)
}

// InOrder yields the samples with the given row indices, in that order.
func (d *Dataset) InOrder(rows []int) iter.Seq2[Sample, error] {
	return func(yield func(Sample, error) bool) {
		for _, r := range rows {
			if r < 0 || r >= d.Len() {
				yield(Sample{}, fmt.Errorf("dataset %s: row %d out of range [0,%d)", d.path, r, d.Len()))
				return
			}
		}
		switch d.kind {
		case fmtJSONL, fmtText:
			for _, r := range rows {
				t, err := d.readAt(r)
				if !yield(Sample{r, t}, err) || err != nil {
					return
				}
			}
		default:
			d.batched(rows, yield)
		}
	}
}

// Text returns sample i (row i in file order). For zstd and parquet inputs
// each call costs a pass over the data up to that row; use InOrder for
// many samples.
func (d *Dataset) Text(i int) (string, error) {
	for s, err := range d.InOrder([]int{i}) {
		return s.Text, err
	}
	return "", fmt.Errorf("dataset %s: row %d: nothing read", d.path, i)
}

// batched collects rows for formats without random access, in batches
// whose stored size stays within BatchBytes.
func (d *Dataset) batched(rows []int, yield func(Sample, error) bool) {
	budget := d.BatchBytes
	if budget <= 0 {
		budget = DefaultBatchBytes
	}
	for start := 0; start < len(rows); {
		end, sum := start, int64(0)
		for end < len(rows) {
			sz := d.rowSize(rows[end])
			if end > start && sum+sz > budget {
				break
			}
			sum += sz
			end++
		}
		want := make(map[int]string, end-start)
		for _, r := range rows[start:end] {
			want[r] = ""
		}
		var err error
		if d.kind == fmtJSONLZst {
			err = d.collectZst(want)
		} else {
			err = d.collectParquet(want)
		}
		if err != nil {
			yield(Sample{}, err)
			return
		}
		for _, r := range rows[start:end] {
			if !yield(Sample{r, want[r]}, nil) {
				return
			}
		}
		start = end
	}
}

func (d *Dataset) rowSize(r int) int64 {
	if d.kind == fmtParquet {
		return 4096 // unknown before reading; a nominal size
	}
	return d.size[r]
}

// ---- JSON lines ----

// lineReader yields lines of arbitrary length with their offsets.
type lineReader struct {
	r    *bufio.Reader
	off  int64 // offset of the next line
	buf  []byte
	line int32
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 1<<20)}
}

// next returns the next line without its "\n", its offset, and io.EOF at
// the end. The slice is valid until the next call.
func (lr *lineReader) next() ([]byte, int64, error) {
	lr.buf = lr.buf[:0]
	start := lr.off
	for {
		chunk, err := lr.r.ReadSlice('\n')
		lr.buf = append(lr.buf, chunk...)
		lr.off += int64(len(chunk))
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(lr.buf) > 0 {
			lr.line++
			return lr.buf, start, nil
		}
		if err != nil {
			return nil, start, err
		}
		lr.line++
		return lr.buf[:len(lr.buf)-1], start, nil
	}
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// textField extracts the string field "text" (exact key) of one JSON line.
func textField(b []byte) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return "", fmt.Errorf("malformed JSON: %w", err)
	}
	raw, ok := obj["text"]
	if !ok {
		return "", errors.New(`no "text" field`)
	}
	var s string
	if string(raw) == "null" {
		return "", errors.New(`"text" is null`)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf(`"text" is not a string: %.40s`, raw)
	}
	return s, nil
}

func (d *Dataset) openJSONL(zst bool) error {
	d.kind = fmtJSONL
	if zst {
		d.kind = fmtJSONLZst
	}
	f, err := os.Open(d.path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	var src io.Reader = f
	var dec *zstd.Decoder
	if zst {
		dec, err = zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<31))
		if err != nil {
			f.Close()
			return fmt.Errorf("dataset %s: zstd: %w", d.path, err)
		}
		defer dec.Close()
		src = dec
	}
	lr := newLineReader(src)
	for {
		b, off, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("dataset %s line %d: %w", d.path, lr.line+1, err)
		}
		if blank(b) {
			continue
		}
		if _, err := textField(b); err != nil {
			f.Close()
			return fmt.Errorf("dataset %s line %d: %w", d.path, lr.line, err)
		}
		d.off = append(d.off, off)
		d.size = append(d.size, int64(len(b)))
		d.line = append(d.line, lr.line)
	}
	if zst {
		return f.Close()
	}
	d.file = f
	return nil
}

// readAt reads sample r of a plain jsonl or txt file.
func (d *Dataset) readAt(r int) (string, error) {
	b := make([]byte, d.size[r])
	if _, err := d.file.ReadAt(b, d.off[r]); err != nil {
		return "", fmt.Errorf("dataset %s: row %d at offset %d: %w", d.path, r, d.off[r], err)
	}
	if d.kind == fmtText {
		return normalizeNewlines(b), nil
	}
	t, err := textField(b)
	if err != nil {
		return "", fmt.Errorf("dataset %s line %d: %w", d.path, d.line[r], err)
	}
	return t, nil
}

// collectZst decompresses the stream once and fills want[row] for the
// requested rows.
func (d *Dataset) collectZst(want map[int]string) error {
	maxRow := -1
	for r := range want {
		maxRow = max(maxRow, r)
	}
	f, err := os.Open(d.path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<31))
	if err != nil {
		return fmt.Errorf("dataset %s: zstd: %w", d.path, err)
	}
	defer dec.Close()
	lr := newLineReader(dec)
	row := 0
	for row <= maxRow {
		b, off, err := lr.next()
		if err != nil {
			return fmt.Errorf("dataset %s line %d: %w (file changed since Open?)", d.path, lr.line+1, err)
		}
		if off != d.off[row] {
			if blank(b) {
				continue
			}
			return fmt.Errorf("dataset %s line %d: offset %d, indexed %d (file changed since Open?)", d.path, lr.line, off, d.off[row])
		}
		if _, ok := want[row]; ok {
			t, err := textField(b)
			if err != nil {
				return fmt.Errorf("dataset %s line %d: %w", d.path, lr.line, err)
			}
			want[row] = t
		}
		row++
	}
	return nil
}

// ---- plain text ----

// openText indexes paragraphs as HF's text loader with
// sample_by="paragraph" splits them, tracking raw byte offsets while
// normalizing newlines on the fly.
func (d *Dataset) openText() error {
	d.kind = fmtText
	f, err := os.Open(d.path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var (
		pos       int64      // raw offset of the next byte
		paraStart int64      // raw start of the current paragraph
		pendNL    int64 = -1 // raw offset of a newline that may start "\n\n"
		prevCR    bool
	)
	emit := func(end int64) {
		if end > paraStart {
			d.off = append(d.off, paraStart)
			d.size = append(d.size, end-paraStart)
		}
	}
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("dataset %s at offset %d: %w", d.path, pos, err)
		}
		at := pos
		pos++
		if c == '\n' && prevCR { // second half of "\r\n": already counted
			prevCR = false
			continue
		}
		prevCR = c == '\r'
		if c == '\n' || c == '\r' {
			if pendNL >= 0 { // "\n\n": paragraph break
				emit(pendNL)
				pendNL = -1
				// the next paragraph starts after this newline (a "\r\n"
				// tail is skipped when it is read)
				paraStart = pos
				if c == '\r' {
					if nb, err := br.Peek(1); err == nil && nb[0] == '\n' {
						paraStart = pos + 1
					}
				}
				continue
			}
			pendNL = at
			continue
		}
		pendNL = -1
	}
	emit(pos)
	d.file = f
	return nil
}

// normalizeNewlines applies Python's universal newlines: "\r\n" and "\r"
// become "\n".
func normalizeNewlines(b []byte) string {
	if !strings.ContainsRune(string(b), '\r') {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\r' {
			out = append(out, '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}
