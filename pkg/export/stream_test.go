package export

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/qnnkit/qnnkit/pkg/config"
)

// A streamed model (OpenModel) writes the same bytes as the loaded one
// (LoadModel), for both states, both formats, with and without rotation.
func TestStreamedMatchesLoaded(t *testing.T) {
	noRot := modelConfig()
	noRot.OnlineRotation, noRot.RPath = false, ""
	for _, c := range []struct {
		name string
		mc   config.ModelConfig
	}{{"rotated", modelConfig()}, {"unrotated", noRot}} {
		t.Run(c.name, func(t *testing.T) {
			loaded, err := LoadModel(c.mc, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer loaded.Close()
			streamed, err := OpenModel(c.mc, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer streamed.Close()
			if streamed.Weights != nil {
				t.Fatal("OpenModel loaded the weights")
			}
			ec := exportConfig()
			ec.ModelConfig = c.mc
			states := func(m *Model) map[string]State {
				q, _, err := m.QNNState(readScales(t), scalePath, ec, QNNOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return map[string]State{"rotated": m.RotatedState(), "qnn": q}
			}
			ls, ss := states(loaded), states(streamed)
			for kind := range ls {
				for _, f := range []Format{MLLM, PTH} {
					// Same file name: the .pth's archive folder is its stem.
					lp, sp := filepath.Join(t.TempDir(), "m."+string(f)), filepath.Join(t.TempDir(), "m."+string(f))
					if err := Write(lp, f, ls[kind]); err != nil {
						t.Fatal(err)
					}
					if err := Write(sp, f, ss[kind]); err != nil {
						t.Fatal(err)
					}
					lb, _ := os.ReadFile(lp)
					sb, _ := os.ReadFile(sp)
					if len(lb) == 0 || !bytes.Equal(lb, sb) {
						t.Errorf("%s %s: streamed output (%d bytes) differs from the loaded model's (%d bytes)", kind, f, len(sb), len(lb))
					}
				}
			}
			if c.name == "rotated" {
				if got, want := encode(t, ss["rotated"]), mustRead(t, rotGolden); !bytes.Equal(got, want) {
					t.Error("streamed exportrot differs from mllm's tinyqwen2-rot-f32.mllm")
				}
			}
		})
	}
}

// Reading a streamed state out of order still gives the right bytes.
func TestStreamedOutOfOrder(t *testing.T) {
	loaded := loadRotated(t)
	streamed, err := OpenModel(modelConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer streamed.Close()
	want, got := loaded.RotatedState(), streamed.RotatedState()
	for _, i := range []int{len(got) - 1, 5, 30, 0, 6, 5, 18} {
		a, err := got[i].Data()
		if err != nil {
			t.Fatal(err)
		}
		a = bytes.Clone(a)
		b, _ := want[i].Data()
		if !bytes.Equal(a, b) {
			t.Errorf("tensor %d (%s) differs", i, got[i].Name)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
