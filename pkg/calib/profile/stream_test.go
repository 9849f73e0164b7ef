package profile

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/calib"
)

// The streamed run (one layer at a time over all samples) writes the same
// scale JSON and statistics as the per-sample run, with and without
// rotation, and refuses the options that need per-sample checkpoints.
func TestStreamMatchesRun(t *testing.T) {
	seed := uint64(3)
	for _, c := range []struct{ name, rotation string }{
		{"unrotated", ""},
		{"rotated", `, "online_rotation": true, "R_path": "` + repo + `testdata/rotate/R-seed3.bin"`},
		{"random", `, "online_rotation": true, "random_rotate": true`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir, 3, c.rotation)
			want := runOK(t, Options{Config: cfg, Seed: &seed, StatsPath: filepath.Join(dir, "a.stats")})
			wantJSON := readFile(t, cfg.Profile.OutputPath)
			got := runOK(t, Options{Config: cfg, Seed: &seed, StatsPath: filepath.Join(dir, "b.stats"), Stream: true})
			if !bytes.Equal(readFile(t, cfg.Profile.OutputPath), wantJSON) {
				t.Error("scale JSON differs from the per-sample run's")
			}
			// The statistics file holds the same statistics (its candidate
			// buffers are kept in another order, so compare results).
			st, meta, err := calib.LoadStats(got.StatsPath)
			if err != nil {
				t.Fatal(err)
			}
			sf, err := st.Result()
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := sf.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), wantJSON) || meta != want.Meta {
				t.Errorf("statistics file: other result or meta %+v (want %+v)", meta, want.Meta)
			}
			if got.Samples != want.Samples || got.Tokens != want.Tokens || got.Recorded != want.Samples || got.Meta != want.Meta {
				t.Errorf("result %+v, per-sample run %+v", got, want)
			}
		})
	}
	cfg := testConfig(t, t.TempDir(), 3, "")
	for _, o := range []Options{{Resume: true}, {Shards: 2}, {StopAfter: 1}} {
		o.Config, o.Stream = cfg, true
		if _, err := Run(o); err == nil || !strings.Contains(err.Error(), "per-sample checkpoints") {
			t.Errorf("%+v: err = %v", o, err)
		}
	}
}
