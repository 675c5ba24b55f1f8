package x3d

import "fmt"

// Detection modes (docs/MODEL_CONTRACT.md, "Detection models").
const (
	ModeSingleStage = "single_stage"
	ModeRoI         = "roi"
)

// DefaultDetectionStride is the cell size of WithDetection: the res3 resolution.
const DefaultDetectionStride = 8

// detectionLevels is how many of the last stages the neck fuses for each stride built.
var detectionLevels = map[int]int{4: 4, 8: 3, 16: 2}

// Detection replaces the classification head with a detection head on the last two
// stages. Layer semantics (convs as in Arch; "BN" as there):
//
//	neck:  the last stages' outputs (stride 4: res2..res5; stride 8: res3, res4, res5; stride
//	       16: res4, res5) each
//	       averaged over time; lat.k: conv 1×1×1 -> Channels, BN; the coarser ones upsampled
//	       (nearest, ×2 per level) to the finest and summed; ReLU; fuse: conv 1×3×3 pad 1,
//	       BN, ReLU. Output [N, Channels, 1, G, G], G = CropSize/Stride.
//	single_stage: for each output (heatmap 1, size 2, offset 2, actions NumClasses):
//	       conv 1×3×3 pad 1 WITH bias, ReLU, conv 1×1×1 WITH bias; sigmoid in the export.
//	roi:   RoIAlign (avg, half-pixel, RoISize×RoISize bins, SamplingRatio² samples per bin)
//	       of the neck map, spatial max, Dropout, Linear Channels -> NumClasses WITH bias.
type Detection struct {
	Mode          string  `json:"mode"`
	Stride        int     `json:"stride"`
	Channels      int     `json:"channels"`
	RoISize       int     `json:"roi_size,omitempty"`
	SamplingRatio int     `json:"sampling_ratio,omitempty"`
	Dropout       float64 `json:"dropout,omitempty"`
}

// WithDetection returns a with its classification head replaced by a detection head of
// the given mode (channels wide, cells of DefaultDetectionStride; the RoI head pools 3×3
// bins of 2×2 samples).
func (a Arch) WithDetection(mode string, channels int) (Arch, error) {
	return a.WithDetectionStride(mode, channels, DefaultDetectionStride)
}

// WithDetectionStride is WithDetection with cells of stride pixels (4, 8 or 16).
func (a Arch) WithDetectionStride(mode string, channels, stride int) (Arch, error) {
	d := &Detection{Mode: mode, Stride: stride, Channels: channels}
	if mode == ModeRoI {
		d.RoISize, d.SamplingRatio = 3, 2
	}
	a.Detection = d
	return a, a.Validate()
}

// Grid is the number of cells per side at the network's crop.
func (d Detection) Grid(crop int) int { return crop / d.Stride }

func (d Detection) validate(a Arch) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: detection: %s", ErrBadArch, fmt.Sprintf(format, args...))
	}
	switch {
	case d.Mode != ModeSingleStage && d.Mode != ModeRoI:
		return bad("mode %q (want %s or %s)", d.Mode, ModeSingleStage, ModeRoI)
	case detectionLevels[d.Stride] == 0:
		return bad("stride %d (4: res2..res5, 8: res3..res5, or 16: res4, res5)", d.Stride)
	case a.CropSize%32 != 0:
		return bad("crop %d is not a multiple of 32", a.CropSize)
	case len(a.Stages) < detectionLevels[d.Stride]:
		return bad("stride %d needs at least %d stages", d.Stride, detectionLevels[d.Stride])
	case d.Channels < 1:
		return bad("channels %d", d.Channels)
	case d.Dropout < 0 || d.Dropout >= 1:
		return bad("dropout %v", d.Dropout)
	case d.Mode == ModeRoI && (d.RoISize < 1 || d.SamplingRatio < 1):
		return bad("roi_size %d, sampling_ratio %d must be positive", d.RoISize, d.SamplingRatio)
	}
	return nil
}

// countDetection adds the neck and head of a detection network to c; hw is res5's size.
func (a Arch) countDetection(c *counter, hw int) {
	d := *a.Detection
	n := detectionLevels[d.Stride]
	st := a.Stages[len(a.Stages)-n:]
	g := hw << (n - 1) // the finest level's size (the crop is a multiple of 32)
	one := [3]int{1, 1, 1}
	k3 := [3]int{1, 3, 3}
	ch := d.Channels
	for k, s := range st {
		size := g >> k
		in := s.Blocks[len(s.Blocks)-1].OutChannels
		c.conv(fmt.Sprintf("neck.lat%d", k), in, ch, 1, one, one, 1, size, false)
		c.bn(fmt.Sprintf("neck.lat%d_bn", k), ch, 1, size)
	}
	c.conv("neck.fuse", ch, ch, 1, k3, one, 1, g, false)
	c.bn("neck.fuse_bn", ch, 1, g)
	if d.Mode == ModeSingleStage {
		for _, h := range []struct {
			name string
			out  int
		}{{"heatmap", 1}, {"size", 2}, {"offset", 2}, {"actions", a.NumClasses}} {
			c.conv("head."+h.name+".conv", ch, ch, 1, k3, one, 1, g, true)
			c.conv("head."+h.name+".out", ch, h.out, 1, one, one, 1, g, true)
		}
		return
	}
	// One RoI: the classifier runs once per box (RoIAlign's interpolation is not counted).
	c.add(LayerCost{Name: "head.proj", Kind: KindLinear, In: ch, Out: a.NumClasses, Output: [4]int{a.NumClasses, 1, 1, 1}}, true)
}
