package decode

import "github.com/actionstream/actionstream/confkit"

// Limits is the `decode` section: the largest stream resolution accepted (either
// orientation); a larger stream fails with ErrTooLarge instead of costing unbounded memory.
type Limits struct {
	MaxWidth  int `yaml:"max_width"`
	MaxHeight int `yaml:"max_height"`
	// HWAccel is "none" (software) or "cuda": FFmpeg's CUDA hwaccel (NVDEC) decodes on the
	// GPU and only the sampled frames are downloaded. A stream whose device or codec NVDEC
	// cannot take decodes in software, with a warning.
	HWAccel string `yaml:"hwaccel"`
	// HWDevice is the CUDA device for hwaccel cuda, e.g. "1"; "" = the first GPU.
	HWDevice string `yaml:"hwaccel_device"`
}

// Hardware decoders.
const (
	HWAccelNone = "none"
	HWAccelCUDA = "cuda"
)

// DefaultLimits is the one definition of the decoder's defaults: 3840×2160, software decode.
func DefaultLimits() Limits { return Limits{MaxWidth: 3840, MaxHeight: 2160, HWAccel: HWAccelNone} }

// Validate checks the section; errors name the field by its YAML key.
func (l Limits) Validate() error {
	var p confkit.Problems
	if l.MaxWidth <= 0 {
		p.Add("max_width", "must be > 0")
	}
	if l.MaxHeight <= 0 {
		p.Add("max_height", "must be > 0")
	}
	switch l.HWAccel {
	case "", HWAccelNone, HWAccelCUDA: // "" (a literal Limits{}) is none
	default:
		p.Add("hwaccel", "must be none or cuda, not %q", l.HWAccel)
	}
	return p.Err()
}

// Apply returns c capped by these limits.
func (l Limits) Apply(c Config) Config {
	c.MaxWidth, c.MaxHeight = l.MaxWidth, l.MaxHeight
	c.HWAccel, c.HWDevice = l.HWAccel, l.HWDevice
	return c
}
