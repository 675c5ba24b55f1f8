package x3d

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Load returns the network named by an --arch value: a preset name, or the path of an
// architecture spec JSON file (what `model info --spec` and `train fit` write).
// numClasses sizes a preset's classifier; a spec file keeps its own.
func Load(nameOrPath string, numClasses int) (Arch, error) {
	if IsPreset(nameOrPath) {
		return Preset(nameOrPath, numClasses)
	}
	if !strings.HasSuffix(nameOrPath, ".json") {
		if _, err := os.Stat(nameOrPath); err != nil {
			return Arch{}, fmt.Errorf("%w: %q is neither a preset (%s) nor a spec JSON file", ErrUnknownPreset, nameOrPath, strings.Join(Presets(), ", "))
		}
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		return Arch{}, fmt.Errorf("%w: %w", ErrBadArch, err)
	}
	a, err := ParseArch(b)
	if err != nil {
		return Arch{}, fmt.Errorf("%s: %w", nameOrPath, err)
	}
	return a, nil
}

// IsPreset reports whether name is one of Presets().
func IsPreset(name string) bool {
	_, err := PresetFactors(name)
	return err == nil
}

// Request describes networks by a base and overrides, as `model info` and `train fit`
// take them on the command line. A zero field keeps the base's value.
type Request struct {
	Arch         string // preset name or spec JSON path; "" = every preset, or x2d when overridden
	Name         string // names a custom network ("" = the base's name, or "custom")
	NumClasses   int
	Frames       int
	SamplingRate int
	TrainCrop    int // a new training crop also resizes the pool, unless PoolCrop is given
	PoolCrop     int
	Width        float64
	Bottleneck   float64
	Depth        float64
	Expand       []string // AXIS=MULTIPLIER, applied in order
}

// Custom reports whether r asks for one network rather than the preset table.
func (r Request) Custom() bool {
	return r.Arch != "" || r.Name != "" || r.overridden()
}

func (r Request) overridden() bool {
	return r.Frames != 0 || r.SamplingRate != 0 || r.TrainCrop != 0 || r.PoolCrop != 0 ||
		r.Width != 0 || r.Bottleneck != 0 || r.Depth != 0 || len(r.Expand) > 0
}

// Resolve builds the networks r asks for: every preset when r is not Custom, else one.
func Resolve(r Request) ([]Arch, error) {
	if r.NumClasses < 1 {
		return nil, fmt.Errorf("%w: num classes %d: need at least 1", ErrBadFactors, r.NumClasses)
	}
	if !r.Custom() {
		var out []Arch
		for _, p := range Presets() {
			a, err := Preset(p, r.NumClasses)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		return out, nil
	}
	base := r.Arch
	if base == "" {
		base = "x2d" // the expansion base
	}
	if !IsPreset(base) {
		if r.overridden() {
			return nil, fmt.Errorf("%w: factor overrides need a preset base, not the spec file %s", ErrBadFactors, base)
		}
		a, err := Load(base, r.NumClasses)
		if err != nil {
			return nil, err
		}
		if r.Name != "" {
			a.Name = r.Name
		}
		return []Arch{a}, nil
	}
	f, _ := PresetFactors(base)
	setInt := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	setFloat := func(dst *float64, v float64) {
		if v != 0 {
			*dst = v
		}
	}
	setInt(&f.Frames, r.Frames)
	setInt(&f.SamplingRate, r.SamplingRate)
	if r.TrainCrop != 0 && r.PoolCrop == 0 {
		f.PoolCrop = 0
	}
	setInt(&f.Crop, r.TrainCrop)
	setInt(&f.PoolCrop, r.PoolCrop)
	setFloat(&f.Width, r.Width)
	setFloat(&f.Bottleneck, r.Bottleneck)
	setFloat(&f.Depth, r.Depth)
	for _, e := range r.Expand {
		axis, m, err := ParseExpand(e)
		if err != nil {
			return nil, err
		}
		if f, err = f.Scale(axis, m); err != nil {
			return nil, fmt.Errorf("expand %s: %w", e, err)
		}
	}
	name := base
	if pf, _ := PresetFactors(base); f != pf {
		name = "custom"
	}
	if r.Name != "" {
		name = r.Name
	}
	a, err := Build(f, name, r.NumClasses)
	if err != nil {
		return nil, err
	}
	return []Arch{a}, nil
}

// ParseExpand parses one AXIS=MULTIPLIER expansion.
func ParseExpand(s string) (Axis, float64, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", 0, fmt.Errorf("%w: expand %q: want AXIS=MULTIPLIER", ErrBadFactors, s)
	}
	axis, err := ParseAxis(k)
	if err != nil {
		return "", 0, fmt.Errorf("expand %q: %w", s, err)
	}
	m, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return "", 0, fmt.Errorf("%w: expand %q: multiplier: %w", ErrBadFactors, s, err)
	}
	return axis, m, nil
}

// Row is one network's cost at one crop, as `model info` prints it.
type Row struct {
	Name              string      `json:"name"`
	Frames            int         `json:"frames"`
	SamplingRate      int         `json:"sampling_rate"`
	CropSize          int         `json:"crop_size"`      // the crop counted at
	SpecCropSize      int         `json:"spec_crop_size"` // the architecture's own crop
	NumClasses        int         `json:"num_classes"`
	MACs              int64       `json:"macs"`
	GFLOPs            float64     `json:"gflops"` // MACs / 1e9, the paper's "GFLOPs"
	Params            int64       `json:"params"`
	ParamsExcludingBN int64       `json:"params_excluding_bn"`
	Activations       int64       `json:"activations"`
	Factors           Factors     `json:"factors"`
	Layers            []LayerCost `json:"layers,omitempty"`
}

// Report counts each network at crop (0 = its own), with the per-layer breakdown when layers.
func Report(archs []Arch, crop int, layers bool) ([]Row, error) {
	if crop < 0 {
		return nil, fmt.Errorf("%w: crop %d: need a positive size", ErrBadCrop, crop)
	}
	rows := make([]Row, 0, len(archs))
	for _, a := range archs {
		at := a.CropSize
		if crop > 0 {
			at = crop
		}
		if err := a.CheckCrop(at); err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		c := a.CostAt(at)
		r := Row{Name: a.Name, Frames: a.Frames, SamplingRate: a.SamplingRate, CropSize: at, SpecCropSize: a.CropSize,
			NumClasses: a.NumClasses, MACs: c.MACs, GFLOPs: float64(c.MACs) / 1e9, Params: c.Params,
			ParamsExcludingBN: c.ParamsExcludingBN, Activations: c.Activations, Factors: a.Factors}
		if layers {
			r.Layers = c.Layers
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// WriteTable prints rows as aligned text, then each network's layers when they were counted.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\tT×τ\tcrop\tGFLOPs\tmultiply-adds\tparams (M)\tparams\tparams excl. BN\tactivations (M)\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d×%d\t%d\t%.2f\t%d\t%.2f\t%d\t%d\t%.2f\t\n", r.Name, r.Frames, r.SamplingRate, r.CropSize,
			r.GFLOPs, r.MACs, float64(r.Params)/1e6, r.Params, r.ParamsExcludingBN, float64(r.Activations)/1e6)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if len(r.Layers) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s at crop %d:\n", r.Name, r.CropSize)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "layer\tkind\tin→out\tgroups\tkernel\tstride\toutput C×T×H×W\tmultiply-adds\tparams\t")
		for _, l := range r.Layers {
			kernel, stride, groups := "", "", ""
			if l.Kind == KindConv {
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
