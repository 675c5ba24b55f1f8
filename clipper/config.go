package clipper

import (
	"fmt"
	"time"

	"github.com/actionstream/actionstream/confkit"
)

// Spacing is the `clipper` section: the operator's choices about clip spacing. The rest of
// the grid (T, τ, S) comes from the model.
type Spacing struct {
	// Hop is the time between the starts of consecutive clips; 0 = the model's default
	// (ceil(T/2)·Interval).
	Hop confkit.Duration `yaml:"hop"`
	// GapTolerance: a clip never spans a PTS gap longer than this.
	GapTolerance confkit.Duration `yaml:"gap_tolerance"`
}

// DefaultSpacing is the one definition of the clipper's defaults.
func DefaultSpacing() Spacing {
	return Spacing{GapTolerance: confkit.Duration(500 * time.Millisecond)}
}

// Validate checks the section; errors name the field by its YAML key.
func (s Spacing) Validate() error {
	p := confkit.Problems{Sentinel: ErrInvalidConfig}
	if s.Hop < 0 {
		p.Add("hop", "must be >= 0 (0 = the model's default)")
	} else if s.Hop > 0 && s.Hop.D() < time.Millisecond {
		p.Add("hop", "must be >= 1ms, not %v", s.Hop)
	}
	if s.GapTolerance < 0 {
		p.Add("gap_tolerance", "must be > 0 (0 = default)")
	}
	return p.Err()
}

// Grid is the clipper's config for a model's T (frames), τ (samplingRate) and S (size).
func (s Spacing) Grid(frames, samplingRate, size int) Config {
	return Config{Frames: frames, SamplingRate: samplingRate, Size: size, Hop: s.Hop.D(), GapTolerance: s.GapTolerance.D()}
}

// Config describes the sampling grid. Frames, SamplingRate and Size come from the model's
// metadata (T, τ, S); Hop and GapTolerance are operator choices.
type Config struct {
	Frames       int           // T: samples per clip
	SamplingRate int           // τ: samples are τ frames apart counted at 30 fps, i.e. τ/30 s
	Size         int           // S: each sample is a planar RGB [3][S][S] image
	Hop          time.Duration // time between the starts of consecutive clips; 0 = ceil(T/2)·Interval
	GapTolerance time.Duration // a PTS step between frames longer than this is a gap; 0 = DefaultSpacing's
}

// Interval is the time between two samples of a clip: τ/30 s, truncated to the nanosecond so
// that a target never lands after a frame whose exact time equals it.
func (c Config) Interval() time.Duration {
	return time.Duration(c.SamplingRate) * time.Second / 30
}

// Span is the time a clip covers from its first to its last target: (T-1)·Interval.
func (c Config) Span() time.Duration {
	if c.Frames < 1 {
		return 0
	}
	return time.Duration(c.Frames-1) * c.Interval()
}

// WithDefaults returns c with zero Hop and GapTolerance replaced by their defaults.
func (c Config) WithDefaults() Config {
	if c.Hop == 0 {
		c.Hop = time.Duration((c.Frames+1)/2) * c.Interval()
	}
	if c.GapTolerance == 0 {
		c.GapTolerance = DefaultSpacing().GapTolerance.D()
	}
	return c
}

// Validate checks c after defaults are applied; the error names the offending field.
func (c Config) Validate() error {
	switch {
	case c.Frames < 1:
		return fmt.Errorf("clipper: Frames must be >= 1, got %d: %w", c.Frames, ErrInvalidConfig)
	case c.SamplingRate < 1:
		return fmt.Errorf("clipper: SamplingRate must be >= 1, got %d: %w", c.SamplingRate, ErrInvalidConfig)
	case c.Size < 1:
		return fmt.Errorf("clipper: Size must be >= 1, got %d: %w", c.Size, ErrInvalidConfig)
	case c.Hop < 0:
		return fmt.Errorf("clipper: Hop must be >= 0, got %v: %w", c.Hop, ErrInvalidConfig)
	case c.GapTolerance < 0:
		return fmt.Errorf("clipper: GapTolerance must be >= 0, got %v: %w", c.GapTolerance, ErrInvalidConfig)
	}
	d := c.WithDefaults()
	// A tiny hop would start an unbounded number of clips per frame.
	if d.Hop < time.Millisecond {
		return fmt.Errorf("clipper: Hop must be >= 1ms, got %v: %w", d.Hop, ErrInvalidConfig)
	}
	return nil
}
