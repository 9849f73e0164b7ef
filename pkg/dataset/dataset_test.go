package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
)

const calibZst = "../../testdata/calib/val.jsonl.zst"

type sampleGoldens struct {
	Calib struct {
		N     int `json:"n"`
		First []struct {
			Row    int    `json:"row"`
			Runes  int    `json:"runes"`
			SHA256 string `json:"sha256_6000"`
		} `json:"first"`
	} `json:"calib"`
	Paragraphs []struct {
		Text       string   `json:"text"`
		Paragraphs []string `json:"paragraphs"`
	} `json:"paragraph_cases"`
}

func loadSampleGoldens(t *testing.T) sampleGoldens {
	t.Helper()
	b, err := os.ReadFile("../../testdata/dataset/sample_goldens.json")
	if err != nil {
		t.Fatal(err)
	}
	var g sampleGoldens
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func collect(t *testing.T, d *Dataset, seed uint64, n int) []Sample {
	t.Helper()
	var out []Sample
	for s, err := range d.Shuffled(seed, n) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// decompressCalib writes the calibration file uncompressed to dir.
func decompressCalib(t *testing.T, dir string) string {
	t.Helper()
	f, err := os.Open(calibZst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	b, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "val.jsonl")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCalibOrder checks mllm's dataset_path layout against NumPy/Python:
// the sample count and, for the first 32 samples of the seed-42 order,
// the row, the code-point length and the SHA-256 of text[:6000] — for the
// directory, the .jsonl.zst, the decompressed .jsonl, and tiny batches.
func TestCalibOrder(t *testing.T) {
	g := loadSampleGoldens(t)
	plain := decompressCalib(t, t.TempDir())
	for _, c := range []struct {
		name, path string
		batch      int64
	}{
		{"dir", "../../testdata/calib", 0},
		{"zst", calibZst, 0},
		{"zst-batch1", calibZst, 1},
		{"zst-batch100k", calibZst, 100 << 10},
		{"jsonl", plain, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := Open(c.path)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if c.batch > 0 {
				d.BatchBytes = c.batch
			}
			if d.Len() != g.Calib.N {
				t.Fatalf("Len %d, want %d", d.Len(), g.Calib.N)
			}
			got := collect(t, d, 42, len(g.Calib.First))
			if len(got) != len(g.Calib.First) {
				t.Fatalf("%d samples, want %d", len(got), len(g.Calib.First))
			}
			for i, w := range g.Calib.First {
				s := got[i]
				sum := sha256.Sum256([]byte(Truncate(s.Text, MaxTextRunes)))
				if s.Index != w.Row || utf8.RuneCountInString(s.Text) != w.Runes || hex.EncodeToString(sum[:]) != w.SHA256 {
					t.Errorf("sample %d: row %d runes %d sha %x, want row %d runes %d sha %s",
						i, s.Index, utf8.RuneCountInString(s.Text), sum[:4], w.Row, w.Runes, w.SHA256[:8])
				}
			}
		})
	}
}

func TestShuffledAll(t *testing.T) {
	d, err := Open(calibZst)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.BatchBytes = 1 << 20
	all := collect(t, d, 42, 0)
	perm := Permutation(42, d.Len())
	if len(all) != len(perm) {
		t.Fatalf("%d samples, want %d", len(all), len(perm))
	}
	for i, s := range all {
		if s.Index != perm[i] || s.Text == "" {
			t.Fatalf("sample %d: row %d (len %d), want row %d", i, s.Index, len(s.Text), perm[i])
		}
	}
	txt, err := d.Text(perm[5])
	if err != nil || txt != all[5].Text {
		t.Errorf("Text(%d) differs from iteration (err %v)", perm[5], err)
	}
	for _, err := range d.InOrder([]int{d.Len()}) {
		if err == nil {
			t.Error("out-of-range row accepted")
		}
	}
}

func TestJSONLErrors(t *testing.T) {
	cases := []struct {
		name, content, wantErr string
		n                      int
	}{
		{"ok-with-blank-lines", "{\"text\": \"a\"}\n\n  \n{\"text\": \"b\", \"meta\": {}}\r\n", "", 2},
		{"no-trailing-newline", "{\"text\": \"a\"}\n{\"text\": \"b\"}", "", 2},
		{"malformed", "{\"text\": \"a\"}\n{\"text\": \"b\"\n", "x.jsonl line 2: malformed JSON", 0},
		{"missing-text", "{\"text\": \"a\"}\n\n{\"Text\": \"b\"}\n", `x.jsonl line 3: no "text" field`, 0},
		{"text-not-string", "{\"text\": 5}\n", `x.jsonl line 1: "text" is not a string`, 0},
		{"not-object", "[1,2]\n", "x.jsonl line 1: malformed JSON", 0},
		{"text-null", "{\"text\": \"a\"}\n{\"text\": null}\n", `x.jsonl line 2: "text" is null`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.jsonl")
			if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			d, err := Open(p)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if d.Len() != c.n {
				t.Fatalf("Len %d, want %d", d.Len(), c.n)
			}
			var texts []string
			for s, err := range d.InOrder([]int{0, 1}) {
				if err != nil {
					t.Fatal(err)
				}
				texts = append(texts, s.Text)
			}
			if !slices.Equal(texts, []string{"a", "b"}) {
				t.Errorf("texts %q", texts)
			}
		})
	}
}

func TestLongLine(t *testing.T) {
	long := strings.Repeat("é", 1<<20) // a 2 MiB line, past the 1 MiB bufio buffer
	content := `{"text": "x"}` + "\n" + `{"text": "` + long + `"}` + "\n"
	for _, zst := range []bool{false, true} {
		dir := t.TempDir()
		p := filepath.Join(dir, "long.jsonl")
		data := []byte(content)
		if zst {
			p += ".zst"
			enc, _ := zstd.NewWriter(nil)
			data = enc.EncodeAll(data, nil)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		txt, err := d.Text(1)
		if err != nil || txt != long {
			t.Errorf("zst=%v: long line not read back (err %v, len %d)", zst, err, len(txt))
		}
		if got := Truncate(txt, MaxTextRunes); utf8.RuneCountInString(got) != MaxTextRunes || len(got) != 2*MaxTextRunes {
			t.Errorf("Truncate: %d runes", utf8.RuneCountInString(got))
		}
		d.Close()
	}
}

func TestTextParagraphs(t *testing.T) {
	g := loadSampleGoldens(t)
	if len(g.Paragraphs) == 0 {
		t.Fatal("no paragraph goldens")
	}
	for i, c := range g.Paragraphs {
		p := filepath.Join(t.TempDir(), "x.txt")
		if err := os.WriteFile(p, []byte(c.Text), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		rows := make([]int, d.Len())
		for k := range rows {
			rows[k] = k
		}
		var got []string
		for s, err := range d.InOrder(rows) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, s.Text)
		}
		d.Close()
		if len(got) != len(c.Paragraphs) || (len(got) > 0 && !slices.Equal(got, c.Paragraphs)) {
			t.Errorf("case %d %q: got %q, want %q", i, c.Text, got, c.Paragraphs)
		}
	}
}

func TestTruncate(t *testing.T) {
	cases := []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 3, "hel"},
		{"hello", 10, "hello"},
		{"héllo", 2, "hé"},
		{"😀😀😀", 2, "😀😀"},
		{"abc", 0, ""},
		{"", 5, ""},
	}
	for _, c := range cases {
		if got := Truncate(c.s, c.n); got != c.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

type textRow struct {
	Text string `parquet:"text"`
	ID   int64  `parquet:"id"`
}

// TestParquet writes shards with several row groups (zstd) and reads them
// back as a single file and as a directory of shards.
func TestParquet(t *testing.T) {
	dir := t.TempDir()
	var all []string
	for shard := 0; shard < 2; shard++ {
		var rows []textRow
		for i := 0; i < 700; i++ {
			txt := strings.Repeat(string(rune('a'+(shard*700+i)%26)), 1+i%50) + " row " + string(rune('A'+i%26))
			rows = append(rows, textRow{txt, int64(len(all))})
			all = append(all, txt)
		}
		p := filepath.Join(dir, "train-0000"+string(rune('0'+shard))+"-of-00002.parquet")
		if err := parquet.WriteFile(p, rows, parquet.MaxRowsPerRowGroup(128), parquet.Compression(&parquet.Zstd)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Len() != len(all) {
		t.Fatalf("Len %d, want %d", d.Len(), len(all))
	}
	for _, batch := range []int64{0, 5000} {
		d.BatchBytes = batch
		got := collect(t, d, 42, 0)
		perm := Permutation(42, len(all))
		for i, s := range got {
			if s.Index != perm[i] || s.Text != all[perm[i]] {
				t.Fatalf("batch %d sample %d: row %d %q, want row %d %q", batch, i, s.Index, s.Text, perm[i], all[perm[i]])
			}
		}
	}
	one, err := Open(filepath.Join(dir, "train-00001-of-00002.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if txt, err := one.Text(699); err != nil || txt != all[1399] {
		t.Errorf("single shard row 699: %q, %v", txt, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.parquet")
	if err := parquet.WriteFile(bad, []struct {
		Body string `parquet:"body"`
	}{{"x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), `no "text" column`) {
		t.Errorf("missing text column: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "val.jsonl.zst") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.jsonl")); err == nil {
		t.Error("missing file accepted")
	}
	p := filepath.Join(dir, "x.csv")
	os.WriteFile(p, []byte("a"), 0o644)
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Errorf("csv: %v", err)
	}
}
