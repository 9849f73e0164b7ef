// Command interopgen is the Go side of scripts/interop_rotate.py: it
// draws or loads R files and writes rotated models for torch to compare.
// It is a development tool, not part of qnnkit's CLI.
//
//	interopgen gen   -seed S -model DIR -rfile R.bin -out rotated.pth [-dense] [-workers N]
//	interopgen apply -rfile R.bin -model DIR -out rotated.pth [-resave R2.bin] [-dense] [-workers N]
//	interopgen sizes -seed S -dir DIR N...
//
// gen draws R/R_v for the model from the seed and writes the R file; apply
// reads an R file (optionally writing it back with Save). Both rotate the
// model with rotate.RotateModelOptions and write its state dict (float32,
// state-dict order) with pth.Save. sizes writes one R file per size N
// (R only, R_v = None) to DIR/R-N.bin.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/qnnkit/qnnkit/pkg/checkpoint"
	"github.com/qnnkit/qnnkit/pkg/model"
	"github.com/qnnkit/qnnkit/pkg/pth"
	"github.com/qnnkit/qnnkit/pkg/rotate"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "interopgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: interopgen gen|apply|sizes ...")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	seed := fs.Uint64("seed", 0, "RNG seed")
	modelDir := fs.String("model", "", "HF model directory")
	rfile := fs.String("rfile", "", "R file")
	out := fs.String("out", "", "rotated state dict (.pth)")
	resave := fs.String("resave", "", "write the loaded R file back here")
	dense := fs.Bool("dense", false, "force the dense float64 product")
	workers := fs.Int("workers", 0, "goroutines (0: GOMAXPROCS)")
	dir := fs.String("dir", "", "output directory (sizes)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "sizes":
		for _, a := range fs.Args() {
			n, err := strconv.Atoi(a)
			if err != nil {
				return err
			}
			r, err := rotate.RandomHadamard(n, rotate.NewRNG(*seed))
			if err != nil {
				return err
			}
			rot := &rotate.Rotation{R: r, N: n}
			if err := rot.Save(filepath.Join(*dir, fmt.Sprintf("R-%d.bin", n))); err != nil {
				return err
			}
		}
		return nil
	case "gen", "apply":
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	ck, err := checkpoint.Open(*modelDir)
	if err != nil {
		return err
	}
	defer ck.Close()
	w, err := model.Load(ck)
	if err != nil {
		return err
	}
	c := w.Config
	var rot *rotate.Rotation
	if args[0] == "gen" {
		if rot, err = rotate.NewRotation(c.HiddenSize, c.HiddenSize/c.NumHeads, c.NumLayers, *seed); err != nil {
			return err
		}
		if err := rot.Save(*rfile); err != nil {
			return err
		}
	} else {
		if rot, err = rotate.Load(*rfile); err != nil {
			return err
		}
		if *resave != "" {
			if err := rot.Save(*resave); err != nil {
				return err
			}
		}
	}
	if err := rotate.RotateModelOptions(w, rot, rotate.Options{Workers: *workers, Dense: *dense}); err != nil {
		return err
	}
	sd := w.StateDict()
	d := &pth.Dict{}
	for _, t := range sd {
		d.Keys = append(d.Keys, t.Name)
		d.Values = append(d.Values, t.Tensor())
	}
	return pth.Save(*out, d)
}
