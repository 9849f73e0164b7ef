package eval_test

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"math"
	"os"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/atomicfile"
	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/eval"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/tokenizer"
)

var updateIDs = flag.Bool("update-ids", false, "rewrite "+idsFixture+" from the tokenizer")

// idsFixture holds the first 16·512 ids of Persuasion as little-endian
// uint16, for scripts/interop_model.py (torch has no tokenizer here).
const idsFixture = "../../testdata/model/persuasion_ids_8192.u16"

// TestPerplexityBundledModel is the key accuracy check of the float32
// forward: the bundled model's perplexity on held-out Persuasion, with the
// protocol of testdata/tinyqwen2/reference.json (16 windows of 512), must
// equal torch's within 0.1%. It takes several seconds, so -short skips it;
// CI (scripts/test.sh) runs it.
func TestPerplexityBundledModel(t *testing.T) {
	if testing.Short() {
		t.Skip("16 × 512-token forwards; run without -short (CI does)")
	}
	var ref struct {
		Persuasion struct {
			PPL      float64 `json:"ppl"`
			Tokens   int     `json:"tokens_in_file"`
			FirstIDs []int   `json:"first_ids"`
		} `json:"persuasion"`
	}
	raw, err := os.ReadFile("../../testdata/tinyqwen2/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatalf("reference.json: %v", err)
	}
	tok, err := tokenizer.Load("../../testdata/tinyqwen2/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile("../../testdata/text/austen-persuasion.txt")
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode(string(text), false)
	if len(ids) != ref.Persuasion.Tokens {
		t.Fatalf("tokenized to %d ids, reference %d", len(ids), ref.Persuasion.Tokens)
	}
	for i, id := range ref.Persuasion.FirstIDs {
		if ids[i] != id {
			t.Fatalf("id %d = %d, reference %d", i, ids[i], id)
		}
	}
	checkIDsFixture(t, ids[:16*512])

	ck, err := checkpoint.Open("../../testdata/tinyqwen2")
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	w, err := model.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	m := model.New(w)
	res, err := eval.Perplexity(ids, w.Config.VocabSize, eval.Options{Ctx: 512, MaxWindows: 16}, func(win []int) ([]float32, error) {
		return m.Forward(win, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Windows != 16 || res.Count != 16*511 {
		t.Fatalf("%d windows, %d scored tokens; want 16, %d", res.Windows, res.Count, 16*511)
	}
	rel := math.Abs(res.PPL()-ref.Persuasion.PPL) / ref.Persuasion.PPL
	t.Logf("perplexity %.8f, torch %.8f, relative difference %.2g (%.0f tokens/s)", res.PPL(), ref.Persuasion.PPL, rel,
		float64(res.Count)/res.Elapsed.Seconds())
	if rel > 1e-3 {
		t.Errorf("perplexity %.6f differs from torch's %.6f by %.3g%% > 0.1%%", res.PPL(), ref.Persuasion.PPL, 100*rel)
	}
}

// checkIDsFixture compares (or with -update-ids rewrites) the ids fixture.
func checkIDsFixture(t *testing.T, ids []int) {
	t.Helper()
	b := make([]byte, 2*len(ids))
	for i, id := range ids {
		if id < 0 || id > math.MaxUint16 {
			t.Fatalf("id %d = %d does not fit uint16", i, id)
		}
		binary.LittleEndian.PutUint16(b[2*i:], uint16(id))
	}
	if *updateIDs {
		if err := atomicfile.WriteFile(idsFixture, b); err != nil {
			t.Fatal(err)
		}
		return
	}
	old, err := os.ReadFile(idsFixture)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/eval -run Bundled -update-ids)", err)
	}
	if string(old) != string(b) {
		t.Fatalf("%s is stale: run go test ./pkg/eval -run Bundled -update-ids", idsFixture)
	}
}
