package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killMidWrite starts name with args in dir and SIGKILLs it as soon as a
// temporary output file (".BASE.tmp-*" in outDir) holds at least minBytes.
// It reports whether the kill happened while the temporary file existed;
// false means the command finished first.
func killMidWrite(t *testing.T, dir, outDir, base string, minBytes int64, name string, args ...string) bool {
	t.Helper()
	c := exec.Command(filepath.Join(e.bin, name), args...)
	c.Dir = dir
	var se strings.Builder
	c.Stderr = &se
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	prefix := "." + base + ".tmp-"
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Logf("%s finished before the kill (err %v): %s", name, err, tail(se.String(), 500))
			return false
		default:
		}
		ents, _ := os.ReadDir(outDir)
		for _, en := range ents {
			if !strings.HasPrefix(en.Name(), prefix) {
				continue
			}
			if info, err := en.Info(); err == nil && info.Size() >= minBytes {
				if err := c.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				err := <-done
				t.Logf("%s killed (%v) while %s held %d bytes", name, err, en.Name(), info.Size())
				return true
			}
		}
		time.Sleep(time.Millisecond)
	}
	c.Process.Kill()
	<-done
	t.Fatalf("%s: no temporary output within 2 minutes", name)
	return false
}

// checkIntact compares outDir with its snapshot from before the killed run:
// every file must be byte-identical, and the only new file allowed is the
// killed process's temporary file (SIGKILL cannot clean it up).
func checkIntact(t *testing.T, outDir, base string, before map[string]string) {
	t.Helper()
	after := snapshot(t, outDir)
	for f, h := range before {
		if after[f] != h {
			t.Errorf("%s changed or vanished after the killed run", f)
		}
	}
	stray := 0
	for f := range after {
		if _, ok := before[f]; ok {
			continue
		}
		if strings.HasPrefix(filepath.Base(f), "."+base+".tmp-") {
			stray++
			continue
		}
		t.Errorf("the killed run left a new file %s", f)
	}
	if stray > 1 {
		t.Errorf("%d temporary files left, want at most 1", stray)
	}
}

// writeSparseSafetensors writes n F32 tensors of rows×cols zeros; the data
// is a hole, so a large file costs no disk writes.
func writeSparseSafetensors(t *testing.T, path string, n, rows, cols int) {
	t.Helper()
	type entry struct {
		DType   string `json:"dtype"`
		Shape   []int  `json:"shape"`
		Offsets [2]int `json:"data_offsets"`
	}
	hdr := map[string]entry{}
	off := 0
	for i := 0; i < n; i++ {
		sz := 4 * rows * cols
		hdr[fmt.Sprintf("model.layers.%03d.weight", i)] = entry{"F32", []int{rows, cols}, [2]int{off, off + sz}}
		off += sz
	}
	hb, _ := json.Marshal(hdr)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hb))), hb...)); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(8 + len(hb) + off)); err != nil {
		t.Fatal(err)
	}
}

// TestKillMidWrite SIGKILLs convert (a ~200 MB output) and exportqnn (the
// bundled model) while they write over an existing output: the previous
// output and its manifest must stay byte-identical and nothing else may
// change (atomic writes: temporary file + rename).
func TestKillMidWrite(t *testing.T) {
	t.Run("convert", func(t *testing.T) {
		dir := t.TempDir()
		big := filepath.Join(dir, "big.safetensors")
		writeSparseSafetensors(t, big, 50, 1024, 1024) // 200 MiB of F32
		small := filepath.Join(dir, "small.safetensors")
		writeSparseSafetensors(t, small, 2, 4, 4)
		outDir := filepath.Join(dir, "out")
		out := filepath.Join(outDir, "model.mllm")
		mustRun(t, dir, "convert", "--type=safetensor", "--input_model", small, "--output_model", out)
		before := snapshot(t, outDir)
		if len(before) != 2 {
			t.Fatalf("previous run left %v, want the output and its manifest", before)
		}
		if !killMidWrite(t, dir, outDir, "model.mllm", 16<<20, "convert", "--quiet", "--type=safetensor", "--input_model", big, "--output_model", out) {
			t.Fatal("convert of 200 MiB finished before it could be killed")
		}
		checkIntact(t, outDir, "model.mllm", before)
	})
	t.Run("exportqnn", func(t *testing.T) {
		pipe := pipeline(t)
		dir := t.TempDir()
		for _, l := range []string{"testdata", "configs", "out"} {
			if err := os.Symlink(filepath.Join(pipe, l), filepath.Join(dir, l)); err != nil {
				t.Fatal(err)
			}
		}
		outDir := filepath.Join(dir, "kill")
		const out = "kill/npu.mllm"
		args := []string{"--config_file", "configs/repro.json", "--output_model", out}
		// The previous output differs from what the killed run would write.
		for attempt := 1; ; attempt++ {
			mustRun(t, dir, "exportqnn", append(args, "--scale-true-div")...)
			before := snapshot(t, outDir)
			if killMidWrite(t, dir, outDir, "npu.mllm", 1<<20, "exportqnn", args...) {
				checkIntact(t, outDir, "npu.mllm", before)
				return
			}
			if attempt == 5 {
				t.Fatal("exportqnn finished before it could be killed, 5 times")
			}
		}
	})
}
