package decode

import "github.com/actionstream/actionstream/confkit"

// Limits is the `decode` section: the largest stream resolution accepted (either
// orientation); a larger stream fails with ErrTooLarge instead of costing unbounded memory.
type Limits struct {
	MaxWidth  int `yaml:"max_width"`
	MaxHeight int `yaml:"max_height"`
}

// DefaultLimits is the one definition of the decoder's defaults: 3840×2160.
func DefaultLimits() Limits { return Limits{MaxWidth: 3840, MaxHeight: 2160} }

// Validate checks the section; errors name the field by its YAML key.
func (l Limits) Validate() error {
	var p confkit.Problems
	if l.MaxWidth <= 0 {
		p.Add("max_width", "must be > 0")
	}
	if l.MaxHeight <= 0 {
		p.Add("max_height", "must be > 0")
	}
	return p.Err()
}

// Apply returns c capped by these limits.
func (l Limits) Apply(c Config) Config {
	c.MaxWidth, c.MaxHeight = l.MaxWidth, l.MaxHeight
	return c
}
