// Package x3d turns the X3D family's expansion factors into a concrete network
// spec (Arch) and counts its exact cost: multiply-adds of Conv3d and Linear
// layers for one clip, parameters with and without BatchNorm, and activation
// sizes. The Arch JSON is the one definition the PyTorch trainer builds from;
// docs/X3D_SPEC.md states its semantics layer by layer.
package x3d

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Shortcut kinds of a residual block.
const (
	ShortcutIdentity = "identity" // x is added as is
	ShortcutConv     = "conv"     // 1×1×1 conv with the block's spatial stride, no bias, no BN
	ShortcutConvBN   = "conv_bn"  // the same conv followed by BN
)

// Arch is a concrete X3D network. It marshals to the Arch JSON of the model
// contract; a consumer builds the network from Stem, Stages, Head, NumClasses
// and Frames/CropSize only (Factors is provenance).
//
// Layer semantics (all convs are Conv3d without bias unless stated; "BN" is
// BatchNorm3d with BNEps/BNMomentum; spatial padding is k/2 so a stride-2 layer
// gives ⌈H/2⌉; there is no temporal stride anywhere):
//
//	stem:  conv 1×k×k stride (1,s,s) in->out; depthwise conv tk×1×1 pad (tk/2,0,0); BN; ReLU
//	block: conv_a 1×1×1 in->inner; BN; ReLU;
//	       conv_b depthwise 3×3×3 stride (1,s,s) pad 1; BN;
//	       if SEChannels > 0: global avg pool -> conv 1×1×1 inner->se WITH bias -> ReLU
//	                          -> conv 1×1×1 se->inner WITH bias -> Sigmoid -> multiply;
//	       Swish; conv_c 1×1×1 inner->out; BN;
//	       + shortcut (identity | conv 1×1×1 stride (1,s,s) | that conv + BN); ReLU
//	head:  conv 1×1×1 in->conv_channels; BN; ReLU; AvgPool3d(pool_kernel, stride 1, no padding);
//	       conv 1×1×1 conv_channels->fc_channels (no bias, no BN); ReLU; Dropout;
//	       Linear fc_channels->num_classes WITH bias applied at every pooled position;
//	       logits = mean of the per-position logits.
//
// At the spec's own CropSize the pool normally leaves one position; it leaves
// more when the pool kernel was sized for a smaller training crop (X3D-XL) or
// when the network runs at a larger crop (CostAt).
type Arch struct {
	SchemaVersion int     `json:"schema_version"`
	Name          string  `json:"name"`
	NumClasses    int     `json:"num_classes"`
	Frames        int     `json:"frames"`
	SamplingRate  int     `json:"sampling_rate"`
	CropSize      int     `json:"crop_size"`
	Factors       Factors `json:"factors"`
	Stem          Stem    `json:"stem"`
	Stages        []Stage `json:"stages"`
	Head          Head    `json:"head"`
	BNEps         float64 `json:"bn_eps"`
	BNMomentum    float64 `json:"bn_momentum"`
	// Detection, when set, replaces Head (kept as provenance, not built) with a detection
	// head (detection.go).
	Detection *Detection `json:"detection,omitempty"`
}

// Stem is the first two convs: spatial, then depthwise temporal.
type Stem struct {
	InChannels     int `json:"in_channels"`
	OutChannels    int `json:"out_channels"`
	SpatialKernel  int `json:"spatial_kernel"`
	SpatialStride  int `json:"spatial_stride"`
	TemporalKernel int `json:"temporal_kernel"`
}

// Stage is one resolution stage (res2..res5).
type Stage struct {
	Name   string  `json:"name"`
	Blocks []Block `json:"blocks"`
}

// Block is one bottleneck residual block.
type Block struct {
	InChannels    int    `json:"in_channels"`
	InnerChannels int    `json:"inner_channels"`
	OutChannels   int    `json:"out_channels"`
	SpatialStride int    `json:"spatial_stride"`
	SEChannels    int    `json:"se_channels"` // 0: no squeeze-excitation
	Shortcut      string `json:"shortcut"`
}

// Head is conv_5, the pool, lin_5 and the classifier.
type Head struct {
	InChannels   int     `json:"in_channels"`
	ConvChannels int     `json:"conv_channels"`
	FCChannels   int     `json:"fc_channels"`
	PoolKernel   [3]int  `json:"pool_kernel"` // T, H, W
	Dropout      float64 `json:"dropout"`
}

// Preset builds one of Presets() for numClasses outputs.
func Preset(name string, numClasses int) (Arch, error) {
	f, err := PresetFactors(name)
	if err != nil {
		return Arch{}, err
	}
	return Build(f, name, numClasses)
}

// Build turns expansion factors into a network. The rules: stem width =
// round8(12·γw); res2..res5 widths = round8(12·2^i·γw); inner = int(γb·width);
// blocks = ceil(γd·[1,2,5,3]); each stage's first block has spatial stride 2 and
// a projection shortcut (with BN only when it changes the width); SE on blocks
// 0,2,4,… squeezing to round8(inner/16); head conv to the last inner width, pool
// (T, ⌈PoolCrop/32⌉, ⌈PoolCrop/32⌉), lin_5 2048 wide.
func Build(f Factors, name string, numClasses int) (Arch, error) {
	if err := f.Validate(); err != nil {
		return Arch{}, err
	}
	if numClasses < 1 {
		return Arch{}, fmt.Errorf("%w: num classes %d < 1", ErrBadFactors, numClasses)
	}
	a := Arch{
		SchemaVersion: schemaVersion,
		Name:          name,
		NumClasses:    numClasses,
		Frames:        f.Frames,
		SamplingRate:  f.SamplingRate,
		CropSize:      f.Crop,
		Factors:       f,
		BNEps:         bnEps,
		BNMomentum:    bnMomentum,
	}
	a.Stem = Stem{InChannels: 3, OutChannels: roundWidth(baseWidth, f.Width), SpatialKernel: 3, SpatialStride: 2, TemporalKernel: stemTemporalK}
	in := a.Stem.OutChannels
	inner := 0
	for i, base := range stageDepths {
		out := roundWidth(baseWidth<<i, f.Width)
		inner = int(f.Bottleneck * float64(out))
		if inner < 1 {
			return Arch{}, fmt.Errorf("%w: bottleneck %v gives no inner channels", ErrBadFactors, f.Bottleneck)
		}
		st := Stage{Name: fmt.Sprintf("res%d", i+2)}
		for b := range repeats(base, f.Depth) {
			blk := Block{InChannels: in, InnerChannels: inner, OutChannels: out, SpatialStride: 1, Shortcut: ShortcutIdentity}
			if b == 0 {
				blk.SpatialStride = 2
				blk.Shortcut = ShortcutConvBN
				if in == out {
					blk.Shortcut = ShortcutConv
				}
			}
			if b%2 == 0 {
				blk.SEChannels = roundWidth(inner, seRatio)
			}
			st.Blocks = append(st.Blocks, blk)
			in = out
		}
		a.Stages = append(a.Stages, st)
	}
	pool := ceilDiv(f.poolCrop(), minEvalCropMulti)
	a.Head = Head{InChannels: in, ConvChannels: inner, FCChannels: headFCChannels, PoolKernel: [3]int{f.Frames, pool, pool}, Dropout: headDropout}
	return a, a.Validate()
}

// Validate checks that the spec is a network the counter (and PyTorch) can run
// at its own CropSize.
func (a Arch) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadArch, fmt.Sprintf(format, args...))
	}
	if a.SchemaVersion != schemaVersion {
		return bad("schema version %d (want %d)", a.SchemaVersion, schemaVersion)
	}
	if a.NumClasses < 1 || a.Frames < 1 || a.CropSize < 1 {
		return bad("num_classes %d, frames %d, crop_size %d must be positive", a.NumClasses, a.Frames, a.CropSize)
	}
	s := a.Stem
	if s.InChannels < 1 || s.OutChannels < 1 || s.SpatialKernel < 1 || s.SpatialStride < 1 || s.TemporalKernel < 1 {
		return bad("stem %+v has a non-positive field", s)
	}
	if s.TemporalKernel%2 == 0 || s.SpatialKernel%2 == 0 {
		return bad("stem kernels must be odd (%+v)", s)
	}
	if len(a.Stages) == 0 {
		return bad("no stages")
	}
	in := s.OutChannels
	for _, st := range a.Stages {
		if len(st.Blocks) == 0 {
			return bad("stage %s has no blocks", st.Name)
		}
		for j, b := range st.Blocks {
			if b.InChannels != in {
				return bad("%s.%d in_channels %d != previous out %d", st.Name, j, b.InChannels, in)
			}
			if b.InnerChannels < 1 || b.OutChannels < 1 || b.SpatialStride < 1 || b.SEChannels < 0 {
				return bad("%s.%d %+v has a non-positive field", st.Name, j, b)
			}
			switch b.Shortcut {
			case ShortcutIdentity:
				if b.InChannels != b.OutChannels || b.SpatialStride != 1 {
					return bad("%s.%d identity shortcut changes shape", st.Name, j)
				}
			case ShortcutConv, ShortcutConvBN:
			default:
				return bad("%s.%d shortcut %q", st.Name, j, b.Shortcut)
			}
			in = b.OutChannels
		}
	}
	if a.Detection != nil {
		if err := a.Detection.validate(a); err != nil {
			return err
		}
	}
	h := a.Head
	if h.InChannels != in || h.ConvChannels < 1 || h.FCChannels < 1 || h.Dropout < 0 || h.Dropout >= 1 {
		return bad("head %+v (last stage out %d)", h, in)
	}
	return a.CheckCrop(a.CropSize)
}

// CheckCrop reports whether the head's pool fits the feature map at crop.
func (a Arch) CheckCrop(crop int) error {
	t, hw := a.featureSize(crop)
	k := a.Head.PoolKernel
	if k[0] < 1 || k[1] < 1 || k[2] < 1 {
		return fmt.Errorf("%w: pool kernel %v", ErrBadArch, k)
	}
	if k[0] > t || k[1] > hw || k[2] > hw {
		return fmt.Errorf("%w: crop %d gives a %dx%dx%d feature map, smaller than the pool kernel %v", ErrBadCrop, crop, t, hw, hw, k)
	}
	return nil
}

// featureSize is the temporal and spatial size entering the head at crop.
func (a Arch) featureSize(crop int) (t, hw int) {
	hw = convOut(crop, a.Stem.SpatialKernel, a.Stem.SpatialStride)
	for _, st := range a.Stages {
		for _, b := range st.Blocks {
			hw = convOut(hw, 3, b.SpatialStride)
		}
	}
	return a.Frames, hw
}

// JSON returns the indented Arch JSON.
func (a Arch) JSON() ([]byte, error) {
	return json.MarshalIndent(a, "", "  ")
}

// ParseArch decodes and validates an Arch JSON (unknown fields are refused so a
// newer schema is not silently misread).
func ParseArch(data []byte) (Arch, error) {
	var a Arch
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return Arch{}, fmt.Errorf("%w: %w", ErrBadArch, err)
	}
	return a, a.Validate()
}

// convOut is the output size of a conv with padding k/2.
func convOut(n, k, s int) int {
	if n < 1 {
		return 0
	}
	return (n+2*(k/2)-k)/s + 1
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
