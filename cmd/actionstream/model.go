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

func cmdModel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		modelUsage(stderr)
		return errUsage
	}
	switch args[0] {
	case "info":
		return modelInfo(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		modelUsage(stdout)
		return nil
	default:
		fmt.Fprintf(stderr, "actionstream model: unknown subcommand %q\n\n", args[0])
		modelUsage(stderr)
		return errUsage
	}
}

func modelUsage(w io.Writer) {
	fmt.Fprint(w, `usage: actionstream model info [flags]

  (no flags)             table of the X3D presets: name, T×τ, crop, GFLOPs, params
  --arch NAME            one preset (`+strings.Join(x3d.Presets(), ", ")+`)
  --frames N --sampling-rate N --train-crop N --pool-crop N --width F --bottleneck F --depth F
                         a custom network: these override --arch's factors (without --arch, x2d's,
                         the expansion base); --name names it
  --expand AXIS=M        scale one expansion axis by M (repeatable; axes: frame_rate, frames,
                         spatial, width, bottleneck, depth)
  --crop N               count at another evaluation crop (fully convolutional)
  --classes N            classifier outputs (default 400)
  --layers               per-layer breakdown
  --json                 JSON instead of a table (an array, one object per network)
  --spec                 print the architecture spec JSON the trainer builds from
  --model FILE.onnx      print a model file's metadata (docs/MODEL_CONTRACT.md)
`)
}

// expandFlags collects repeated --expand AXIS=M values.
type expandFlags []string

func (e *expandFlags) String() string     { return strings.Join(*e, ",") }
func (e *expandFlags) Set(v string) error { *e = append(*e, v); return nil }

// modelRow is one network in `model info --json`.
type modelRow struct {
	Name              string          `json:"name"`
	Frames            int             `json:"frames"`
	SamplingRate      int             `json:"sampling_rate"`
	CropSize          int             `json:"crop_size"`      // the crop counted at
	SpecCropSize      int             `json:"spec_crop_size"` // the architecture's own crop
	NumClasses        int             `json:"num_classes"`
	MACs              int64           `json:"macs"`
	GFLOPs            float64         `json:"gflops"` // MACs / 1e9, the paper's "GFLOPs"
	Params            int64           `json:"params"`
	ParamsExcludingBN int64           `json:"params_excluding_bn"`
	Activations       int64           `json:"activations"`
	Factors           x3d.Factors     `json:"factors"`
	Layers            []x3d.LayerCost `json:"layers,omitempty"`
}

func modelInfo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("actionstream model info", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { modelUsage(stderr) }
	var (
		asJSON    = fs.Bool("json", false, "")
		archName  = fs.String("arch", "", "")
		name      = fs.String("name", "", "")
		crop      = fs.Int("crop", 0, "")
		classes   = fs.Int("classes", 400, "")
		layers    = fs.Bool("layers", false, "")
		spec      = fs.Bool("spec", false, "")
		modelPath = fs.String("model", "", "")
		frames    = fs.Int("frames", 0, "")
		tau       = fs.Int("sampling-rate", 0, "")
		trainCrop = fs.Int("train-crop", 0, "")
		poolCrop  = fs.Int("pool-crop", 0, "")
		width     = fs.Float64("width", 0, "")
		bneck     = fs.Float64("bottleneck", 0, "")
		depth     = fs.Float64("depth", 0, "")
		expand    expandFlags
	)
	fs.Var(&expand, "expand", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage // the flag package has printed the error and usage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	factorFlags := []string{"frames", "sampling-rate", "train-crop", "pool-crop", "width", "bottleneck", "depth", "expand"}
	custom := set["arch"] || set["name"]
	for _, n := range factorFlags {
		custom = custom || set[n]
	}

	if set["model"] {
		for n := range set {
			if n != "model" && n != "json" {
				return fmt.Errorf("--model cannot be combined with --%s", n)
			}
		}
		return printModelFile(*modelPath, *asJSON, stdout)
	}
	if *classes < 1 {
		return fmt.Errorf("--classes %d: need at least 1", *classes)
	}
	if set["crop"] && *crop < 1 {
		return fmt.Errorf("--crop %d: need a positive size", *crop)
	}
	if (*spec || *layers) && !custom {
		return errors.New("--spec and --layers describe one network: add --arch NAME or factor flags")
	}
	if *spec && set["crop"] {
		return errors.New("--spec prints the network at its own crop; use --train-crop to change it")
	}

	var archs []x3d.Arch
	if !custom {
		for _, p := range x3d.Presets() {
			a, err := x3d.Preset(p, *classes)
			if err != nil {
				return err
			}
			archs = append(archs, a)
		}
	} else {
		base := "x2d"
		if set["arch"] {
			base = *archName
		}
		f, err := x3d.PresetFactors(base)
		if err != nil {
			return fmt.Errorf("--arch: %w", err)
		}
		netName := base
		overridden := false
		setInt := func(flagName string, dst *int, v int) {
			if set[flagName] {
				*dst, overridden = v, true
			}
		}
		setFloat := func(flagName string, dst *float64, v float64) {
			if set[flagName] {
				*dst, overridden = v, true
			}
		}
		setInt("frames", &f.Frames, *frames)
		setInt("sampling-rate", &f.SamplingRate, *tau)
		if set["train-crop"] && !set["pool-crop"] {
			f.PoolCrop = 0 // a new training crop sizes the pool too
		}
		setInt("train-crop", &f.Crop, *trainCrop)
		setInt("pool-crop", &f.PoolCrop, *poolCrop)
		setFloat("width", &f.Width, *width)
		setFloat("bottleneck", &f.Bottleneck, *bneck)
		setFloat("depth", &f.Depth, *depth)
		for _, e := range expand {
			axis, m, err := parseExpand(e)
			if err != nil {
				return err
			}
			if f, err = f.Scale(axis, m); err != nil {
				return fmt.Errorf("--expand %s: %w", e, err)
			}
			overridden = true
		}
		if overridden {
			netName = "custom"
		}
		if set["name"] {
			netName = *name
		}
		a, err := x3d.Build(f, netName, *classes)
		if err != nil {
			return err
		}
		archs = append(archs, a)
	}

	if *spec {
		b, err := archs[0].JSON()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}

	rows := make([]modelRow, 0, len(archs))
	for _, a := range archs {
		at := a.CropSize
		if set["crop"] {
			at = *crop
		}
		if err := a.CheckCrop(at); err != nil {
			return fmt.Errorf("%s: %w", a.Name, err)
		}
		c := a.CostAt(at)
		r := modelRow{
			Name: a.Name, Frames: a.Frames, SamplingRate: a.SamplingRate, CropSize: at, SpecCropSize: a.CropSize,
			NumClasses: a.NumClasses, MACs: c.MACs, GFLOPs: float64(c.MACs) / 1e9, Params: c.Params,
			ParamsExcludingBN: c.ParamsExcludingBN, Activations: c.Activations, Factors: a.Factors,
		}
		if *layers {
			r.Layers = c.Layers
		}
		rows = append(rows, r)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return printModelTable(stdout, rows, *layers)
}

func parseExpand(s string) (x3d.Axis, float64, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", 0, fmt.Errorf("--expand %q: want AXIS=MULTIPLIER", s)
	}
	axis, err := x3d.ParseAxis(k)
	if err != nil {
		return "", 0, fmt.Errorf("--expand %q: %w", s, err)
	}
	m, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return "", 0, fmt.Errorf("--expand %q: multiplier: %w", s, err)
	}
	return axis, m, nil
}

func printModelTable(w io.Writer, rows []modelRow, layers bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\tT×τ\tcrop\tGFLOPs\tmultiply-adds\tparams (M)\tparams\tparams excl. BN\tactivations (M)\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d×%d\t%d\t%.2f\t%d\t%.2f\t%d\t%d\t%.2f\t\n", r.Name, r.Frames, r.SamplingRate, r.CropSize,
			r.GFLOPs, r.MACs, float64(r.Params)/1e6, r.Params, r.ParamsExcludingBN, float64(r.Activations)/1e6)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !layers {
		return nil
	}
	for _, r := range rows {
		fmt.Fprintf(w, "\n%s at crop %d:\n", r.Name, r.CropSize)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "layer\tkind\tin→out\tgroups\tkernel\tstride\toutput C×T×H×W\tmultiply-adds\tparams\t")
		for _, l := range r.Layers {
			kernel, stride, groups := "", "", ""
			if l.Kind == x3d.KindConv {
				kernel = fmt.Sprintf("%d×%d×%d", l.Kernel[0], l.Kernel[1], l.Kernel[2])
				stride = fmt.Sprintf("%d,%d,%d", l.Stride[0], l.Stride[1], l.Stride[2])
				groups = strconv.Itoa(l.Groups)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d→%d\t%s\t%s\t%s\t%d×%d×%d×%d\t%d\t%d\t\n", l.Name, l.Kind, l.In, l.Out, groups, kernel, stride,
				l.Output[0], l.Output[1], l.Output[2], l.Output[3], l.MACs, l.Params)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// modelFileInfo is `model info --model FILE --json`: the contract's metadata
// under its own key names, plus the counter's numbers when the file carries an
// X3D architecture spec.
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
	// From the architecture spec, when it is one training/x3d understands.
	CountedMACs   int64 `json:"counted_macs,omitempty"`
	CountedParams int64 `json:"counted_params,omitempty"`
}

func printModelFile(path string, asJSON bool, w io.Writer) error {
	m, err := infer.ReadMetadata(path)
	if err != nil {
		return err
	}
	info := modelFileInfo{
		Path: path, SchemaVersion: m.SchemaVersion, Name: m.Name, Task: m.Task, Labels: m.Labels,
		Frames: m.Frames, SamplingRate: m.SamplingRate, CropSize: m.CropSize, ResizeShortSide: m.ResizeShortSide,
		Mean: m.Mean, Std: m.Std, Score: m.Score, MACs: m.MACs, Params: m.Params, TrainedOn: m.TrainedOn,
		Architecture: m.Architecture,
	}
	var archNote string
	if len(m.Architecture) > 0 {
		if a, err := x3d.ParseArch(m.Architecture); err == nil {
			c := a.CostAt(m.CropSize)
			info.CountedMACs, info.CountedParams = c.MACs, c.Params
		} else {
			archNote = "not an X3D spec this build understands: " + err.Error()
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	kv := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	kv("path", info.Path)
	kv("name", info.Name)
	kv("task", info.Task)
	kv("schema version", info.SchemaVersion)
	kv("labels", fmt.Sprintf("%d: %s", len(info.Labels), strings.Join(info.Labels, ", ")))
	kv("clip T×τ, crop", fmt.Sprintf("%d×%d (τ in frames at 30 fps), crop %d, resize short side %d", info.Frames, info.SamplingRate, info.CropSize, info.ResizeShortSide))
	kv("mean / std", fmt.Sprintf("%v / %v", info.Mean, info.Std))
	kv("score", info.Score)
	kv("multiply-adds", info.MACs)
	kv("params", info.Params)
	kv("trained on", info.TrainedOn)
	switch {
	case info.CountedMACs > 0:
		kv("counted from spec", fmt.Sprintf("%d multiply-adds, %d params", info.CountedMACs, info.CountedParams))
	case archNote != "":
		kv("architecture", archNote)
	}
	return tw.Flush()
}
