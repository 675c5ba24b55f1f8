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
	"text/tabwriter"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/training/x3d"
)

// listFlag collects a repeated flag.
type listFlag []string

func (e *listFlag) String() string     { return strings.Join(*e, ",") }
func (e *listFlag) Set(v string) error { *e = append(*e, v); return nil }

func cmdModelInfo(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("model info", "[--arch NAME|SPEC.json] [factor flags] [--json] | --model FILE.onnx", `
No flags: the table of the X3D presets. --arch or any factor flag describes one network:
factor flags override --arch's preset factors (without --arch, x2d's, the expansion base).`, stderr)
	var r x3d.Request
	fs.StringVar(&r.Arch, "arch", "", "preset ("+strings.Join(x3d.Presets(), ", ")+") or architecture spec JSON file")
	fs.StringVar(&r.Name, "name", "", "name of the custom network")
	fs.IntVar(&r.NumClasses, "num-classes", 400, "classifier outputs")
	fs.Var(classCount{&r.NumClasses, fs}, "classes", hidden)
	fs.IntVar(&r.Frames, "frames", 0, "T: frames per clip")
	fs.IntVar(&r.SamplingRate, "sampling-rate", 0, "τ: frames between samples at 30 fps")
	fs.IntVar(&r.TrainCrop, "train-crop", 0, "the architecture's own (training) crop; also sizes the pool")
	fs.IntVar(&r.PoolCrop, "pool-crop", 0, "crop the head's pool is sized for")
	fs.Float64Var(&r.Width, "width", 0, "γw width multiplier")
	fs.Float64Var(&r.Bottleneck, "bottleneck", 0, "γb bottleneck multiplier")
	fs.Float64Var(&r.Depth, "depth", 0, "γd depth multiplier")
	fs.Var((*listFlag)(&r.Expand), "expand", "AXIS=M: scale one expansion axis by M (repeatable; axes: "+axesList()+")")
	crop := fs.Int("crop", 0, "count at this evaluation crop (the network is fully convolutional)")
	layers := fs.Bool("layers", false, "per-layer breakdown")
	asJSON := fs.Bool("json", false, "JSON instead of a table (an array, one object per network)")
	spec := fs.Bool("spec", false, "print the architecture spec JSON the trainer builds from")
	modelPath := fs.String("model", "", "print this model file's metadata (docs/MODEL_CONTRACT.md)")
	if err := parse(fs, args); err != nil {
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
		return printModelFile(*modelPath, *asJSON, stdout)
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

// classCount is the deprecated `--classes N` of `model info` and `train export`, now
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

// modelFileInfo is `model info --model FILE --json`: the contract's metadata under its
// own key names, plus the counter's numbers when the file carries an X3D spec.
type modelFileInfo struct {
	Path            string          `json:"path"`
	SchemaVersion   int             `json:"schema_version"`
	Name            string          `json:"name"`
	Task            string          `json:"task"`
	Labels          []string        `json:"labels"`
	Frames          int             `json:"frames"`
	SamplingRate    int             `json:"sampling_rate"`
	CropSize        int             `json:"crop_size"`
	ResizeShortSide int             `json:"resize_short_side"`
	Mean            [3]float32      `json:"mean"`
	Std             [3]float32      `json:"std"`
	Score           string          `json:"score"`
	MACs            int64           `json:"macs,omitempty"`
	Params          int64           `json:"params,omitempty"`
	TrainedOn       string          `json:"trained_on,omitempty"`
	Architecture    json.RawMessage `json:"architecture,omitempty"`
	CountedMACs     int64           `json:"counted_macs,omitempty"`
	CountedParams   int64           `json:"counted_params,omitempty"`
}

func printModelFile(path string, asJSON bool, w io.Writer) error {
	m, err := infer.ReadMetadata(path)
	if err != nil {
		return err
	}
	info := modelFileInfo{Path: path, SchemaVersion: m.SchemaVersion, Name: m.Name, Task: m.Task, Labels: m.Labels,
		Frames: m.Frames, SamplingRate: m.SamplingRate, CropSize: m.CropSize, ResizeShortSide: m.ResizeShortSide,
		Mean: m.Mean, Std: m.Std, Score: m.Score, MACs: m.MACs, Params: m.Params, TrainedOn: m.TrainedOn, Architecture: m.Architecture}
	archNote := ""
	if len(m.Architecture) > 0 {
		if a, err := x3d.ParseArch(m.Architecture); err == nil {
			c := a.CostAt(m.CropSize)
			info.CountedMACs, info.CountedParams = c.MACs, c.Params
			archNote = fmt.Sprintf("counted from spec: %d multiply-adds, %d params", c.MACs, c.Params)
		} else {
			archNote = "not an X3D spec this build understands: " + err.Error()
		}
	}
	if asJSON {
		return printJSON(w, info)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kv := range [][2]any{{"path", info.Path}, {"name", info.Name}, {"task", info.Task}, {"schema version", info.SchemaVersion},
		{"labels", fmt.Sprintf("%d: %s", len(info.Labels), strings.Join(info.Labels, ", "))},
		{"clip T×τ, crop", fmt.Sprintf("%d×%d (τ in frames at 30 fps), crop %d, resize short side %d", info.Frames, info.SamplingRate, info.CropSize, info.ResizeShortSide)},
		{"mean / std", fmt.Sprintf("%v / %v", info.Mean, info.Std)}, {"score", info.Score}, {"multiply-adds", info.MACs},
		{"params", info.Params}, {"trained on", info.TrainedOn}, {"architecture", archNote}} {
		fmt.Fprintf(tw, "%s\t%v\n", kv[0], kv[1])
	}
	return tw.Flush()
}
