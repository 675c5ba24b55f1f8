package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/actionstream/actionstream/internal/cli"
	"github.com/actionstream/actionstream/training/modelinfo"
	"github.com/actionstream/actionstream/training/x3d"
)

func cmdModelInfo(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("model info", "[--arch NAME|SPEC.json] [factor flags] [--json] | --model FILE.onnx", `
No flags: the table of the X3D presets. --arch or any factor flag describes one network:
factor flags override --arch's preset factors (without --arch, x2d's, the expansion base).`, stderr)
	var r x3d.Request
	fs.StringVar(&r.Arch, "arch", "", "preset ("+strings.Join(x3d.Presets(), ", ")+") or architecture spec JSON file")
	fs.StringVar(&r.Name, "name", "", "name of the custom network")
	fs.IntVar(&r.NumClasses, "num-classes", 400, "classifier outputs")
	fs.Var(classCount{&r.NumClasses, fs}, "classes", cli.Hidden)
	fs.IntVar(&r.Frames, "frames", 0, "T: frames per clip")
	fs.IntVar(&r.SamplingRate, "sampling-rate", 0, "τ: frames between samples at 30 fps")
	fs.IntVar(&r.TrainCrop, "train-crop", 0, "the architecture's own (training) crop; also sizes the pool")
	fs.IntVar(&r.PoolCrop, "pool-crop", 0, "crop the head's pool is sized for")
	fs.Float64Var(&r.Width, "width", 0, "γw width multiplier")
	fs.Float64Var(&r.Bottleneck, "bottleneck", 0, "γb bottleneck multiplier")
	fs.Float64Var(&r.Depth, "depth", 0, "γd depth multiplier")
	fs.Var((*cli.List)(&r.Expand), "expand", "AXIS=M: scale one expansion axis by M (repeatable; axes: "+axesList()+")")
	crop := fs.Int("crop", 0, "count at this evaluation crop (the network is fully convolutional)")
	layers := fs.Bool("layers", false, "per-layer breakdown")
	asJSON := fs.Bool("json", false, "JSON instead of a table (an array, one object per network)")
	spec := fs.Bool("spec", false, "print the architecture spec JSON the trainer builds from")
	modelPath := fs.String("model", "", "print this model file's metadata (docs/MODEL_CONTRACT.md)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["model"] {
		for n := range set {
			if n != "model" && n != "json" {
				return fmt.Errorf("--model cannot be combined with --%s", n)
			}
		}
		mf, err := modelinfo.Describe(*modelPath)
		switch {
		case err != nil:
			return err
		case *asJSON:
			return printJSON(stdout, mf)
		}
		return mf.WriteText(stdout)
	}
	switch {
	case set["crop"] && *crop < 1:
		return fmt.Errorf("--crop %d: need a positive size", *crop)
	case (*spec || *layers) && !r.Custom():
		return errors.New("--spec and --layers describe one network: add --arch NAME or factor flags")
	case *spec && set["crop"]:
		return errors.New("--spec prints the network at its own crop; use --train-crop to change it")
	}
	archs, err := x3d.Resolve(r)
	if err != nil {
		return err
	}
	if *spec {
		return printJSON(stdout, archs[0])
	}
	rows, err := x3d.Report(archs, *crop, *layers)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, rows)
	}
	return x3d.WriteTable(stdout, rows)
}

// classCount is the deprecated `--classes N` of `model info`, now
// --num-classes (--classes names the classes).
type classCount struct {
	n  *int
	fs *flag.FlagSet
}

func (c classCount) String() string { return "" }
func (c classCount) Set(v string) error {
	fmt.Fprintln(c.fs.Output(), "actionstream: --classes N is deprecated; use --num-classes N")
	n, err := strconv.Atoi(v)
	*c.n = n
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func axesList() string {
	var s []string
	for _, a := range x3d.Axes() {
		s = append(s, string(a))
	}
	return strings.Join(s, ",")
}
