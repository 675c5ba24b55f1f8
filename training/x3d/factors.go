package x3d

import (
	"fmt"
	"math"
)

// Fixed parts of the X3D family that no expansion axis touches.
const (
	baseWidth        = 12   // stem and res2 width before γw (res3..res5 double it per stage)
	stemTemporalK    = 5    // depthwise temporal kernel of the stem
	headFCChannels   = 2048 // width of the head's lin_5 layer
	seRatio          = 0.0625
	headDropout      = 0.5
	bnEps            = 1e-5
	bnMomentum       = 0.1
	schemaVersion    = 1
	minEvalCropMulti = 32 // total spatial stride of the network
)

// stageDepths are the X2D block counts of res2..res5 before γd.
var stageDepths = [4]int{1, 2, 5, 3}

// Factors are the six expansion axes of the paper, held as concrete values so
// that a network is reproducible from them alone:
//
//	γτ frame rate  -> SamplingRate (τ, frames between samples at 30 fps)
//	γt frames      -> Frames (T)
//	γs spatial     -> Crop (S, the square training crop)
//	γw width       -> Width (multiplier of the base widths 12/12/24/48/96)
//	γb bottleneck  -> Bottleneck (inner width = int(γb × block width))
//	γd depth       -> Depth (blocks per stage = ceil(γd × [1,2,5,3]))
//
// PoolCrop is the crop the head's pooling kernel is sized for (⌈PoolCrop/32⌉);
// 0 means Crop. It differs from Crop only when a network is trained at one
// size and run at a larger one, as X3D-XL is (trained at 312, run at 356).
//
// Scale expands one axis by a multiplicative factor, which is the step the
// progressive expansion search takes.
type Factors struct {
	Frames       int     `json:"frames"`
	SamplingRate int     `json:"sampling_rate"`
	Crop         int     `json:"crop"`
	PoolCrop     int     `json:"pool_crop,omitempty"`
	Width        float64 `json:"width"`
	Bottleneck   float64 `json:"bottleneck"`
	Depth        float64 `json:"depth"`
}

// Axis names one expansion axis.
type Axis string

// The six axes, named after the paper's expanded models (X-Fast, X-Temporal, ...).
const (
	AxisFrameRate  Axis = "frame_rate" // γτ: more frames over the same duration (τ shrinks)
	AxisFrames     Axis = "frames"     // γt: more frames at the same τ (longer duration)
	AxisSpatial    Axis = "spatial"    // γs: larger crop
	AxisWidth      Axis = "width"      // γw: wider layers everywhere
	AxisBottleneck Axis = "bottleneck" // γb: wider inner (depthwise) layers only
	AxisDepth      Axis = "depth"      // γd: more blocks per stage
)

// Axes lists the six axes in the paper's order.
func Axes() []Axis {
	return []Axis{AxisFrameRate, AxisFrames, AxisSpatial, AxisWidth, AxisBottleneck, AxisDepth}
}

// ParseAxis turns an axis name (as in Axes) into an Axis.
func ParseAxis(s string) (Axis, error) {
	for _, a := range Axes() {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: %q (want one of %v)", ErrUnknownAxis, s, Axes())
}

// Scale returns f with one axis multiplied by m (m > 0). Integer axes round to
// the nearest value and stay at least 1:
//   - frame_rate: Frames × m and SamplingRate ÷ m (the clip's duration stays about the same);
//   - frames: Frames × m, SamplingRate unchanged;
//   - spatial: Crop × m rounded to a multiple of 4 (at least 32); PoolCrop resets to follow Crop;
//   - width, bottleneck, depth: the multiplier × m.
func (f Factors) Scale(a Axis, m float64) (Factors, error) {
	if !(m > 0) || math.IsInf(m, 0) {
		return f, fmt.Errorf("%w: scale %v must be a positive number", ErrBadFactors, m)
	}
	roundMin1 := func(v float64) int { return max(1, int(math.Round(v))) }
	switch a {
	case AxisFrameRate:
		f.Frames = roundMin1(float64(f.Frames) * m)
		f.SamplingRate = roundMin1(float64(f.SamplingRate) / m)
	case AxisFrames:
		f.Frames = roundMin1(float64(f.Frames) * m)
	case AxisSpatial:
		f.Crop = max(minEvalCropMulti, int(math.Round(float64(f.Crop)*m/4))*4)
		f.PoolCrop = 0
	case AxisWidth:
		f.Width *= m
	case AxisBottleneck:
		f.Bottleneck *= m
	case AxisDepth:
		f.Depth *= m
	default:
		return f, fmt.Errorf("%w: %q", ErrUnknownAxis, a)
	}
	return f, f.Validate()
}

// Validate reports whether the factors make a network.
func (f Factors) Validate() error {
	switch {
	case f.Frames < 1:
		return fmt.Errorf("%w: frames %d < 1", ErrBadFactors, f.Frames)
	case f.SamplingRate < 1:
		return fmt.Errorf("%w: sampling rate %d < 1", ErrBadFactors, f.SamplingRate)
	case f.Crop < minEvalCropMulti:
		return fmt.Errorf("%w: crop %d < %d", ErrBadFactors, f.Crop, minEvalCropMulti)
	case f.PoolCrop != 0 && (f.PoolCrop < minEvalCropMulti || f.PoolCrop > f.Crop):
		return fmt.Errorf("%w: pool crop %d outside [%d, crop %d]", ErrBadFactors, f.PoolCrop, minEvalCropMulti, f.Crop)
	case !finitePositive(f.Width):
		return fmt.Errorf("%w: width %v must be > 0", ErrBadFactors, f.Width)
	case !finitePositive(f.Bottleneck):
		return fmt.Errorf("%w: bottleneck %v must be > 0", ErrBadFactors, f.Bottleneck)
	case !finitePositive(f.Depth):
		return fmt.Errorf("%w: depth %v must be > 0", ErrBadFactors, f.Depth)
	case f.Width > 64 || f.Bottleneck > 64 || f.Depth > 64 || f.Frames > 1024 || f.Crop > 4096:
		// Far beyond any useful network; keeps counts well inside int64.
		return fmt.Errorf("%w: factor out of range (%+v)", ErrBadFactors, f)
	}
	return nil
}

func finitePositive(v float64) bool { return v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }

// poolCrop is the crop the head's pooling kernel is sized for.
func (f Factors) poolCrop() int {
	if f.PoolCrop != 0 {
		return f.PoolCrop
	}
	return f.Crop
}

// roundWidth scales width by m and rounds it to a multiple of 8: at least 8,
// and one step up when rounding fell below 90% of the unrounded value.
func roundWidth(width int, m float64) int {
	const div = 8
	w := float64(width) * m
	r := max(div, int(w+div/2)/div*div)
	if float64(r) < 0.9*w {
		r += div
	}
	return r
}

// repeats is the block count of a stage: ceil(γd × base).
func repeats(base int, depth float64) int {
	return int(math.Ceil(depth * float64(base)))
}

type preset struct {
	name string
	f    Factors
}

// presets are the paper's models. X2D is the expansion base: one frame at
// 112², bottleneck 1 and depth 1, with the same widths as the X3D models.
func presets() []preset {
	return []preset{
		{"x2d", Factors{Frames: 1, SamplingRate: 12, Crop: 112, Width: 2.0, Bottleneck: 1.0, Depth: 1.0}},
		{"x3d-xs", Factors{Frames: 4, SamplingRate: 12, Crop: 160, Width: 2.0, Bottleneck: 2.25, Depth: 2.2}},
		{"x3d-s", Factors{Frames: 13, SamplingRate: 6, Crop: 160, Width: 2.0, Bottleneck: 2.25, Depth: 2.2}},
		{"x3d-m", Factors{Frames: 16, SamplingRate: 5, Crop: 224, Width: 2.0, Bottleneck: 2.25, Depth: 2.2}},
		{"x3d-l", Factors{Frames: 16, SamplingRate: 5, Crop: 312, Width: 2.0, Bottleneck: 2.25, Depth: 5.0}},
		{"x3d-xl", Factors{Frames: 16, SamplingRate: 5, Crop: 356, PoolCrop: 312, Width: 2.9, Bottleneck: 2.25, Depth: 5.0}},
	}
}

// Presets lists the preset names in order of size.
func Presets() []string {
	ps := presets()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.name
	}
	return names
}

// PresetFactors returns a preset's factors, the starting point for a custom network.
func PresetFactors(name string) (Factors, error) {
	for _, p := range presets() {
		if p.name == name {
			return p.f, nil
		}
	}
	return Factors{}, fmt.Errorf("%w: %q (have %v)", ErrUnknownPreset, name, Presets())
}
