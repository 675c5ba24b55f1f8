package motion

import (
	"fmt"
	"maps"
	"slices"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/ingest"
)

// Config is the `motion` section: motion gating. A clip whose motion level is under the
// threshold is not scored (docs/OPERATIONS.md, "Motion gating"). The global keys are every
// stream's default; Streams overrides them per stream id.
type Config struct {
	// Enabled turns gating on. Off, every clip is scored (the level is still measured and shown).
	Enabled bool `yaml:"enabled"`
	// Threshold is the least motion level a clip needs to be scored: the fraction (0..1] of the
	// unmasked grid cells whose mean luma changed by more than NoiseFloor between two samples.
	Threshold float64 `yaml:"threshold"`
	// NoiseFloor is the change of a cell's mean luma (0..255) that sensor noise and compression
	// stay under; smaller changes never count as motion.
	NoiseFloor float64 `yaml:"noise_floor"`
	// Masks are zones that never count as motion on any stream (a burnt-in timestamp).
	Masks []Rect `yaml:"masks"`
	// Streams overrides the keys above for one stream id; its masks add to the global ones.
	Streams map[string]Override `yaml:"streams"`
}

// Override is one stream's entry of motion.streams: unset keys keep the global value.
type Override struct {
	Enabled    *bool    `yaml:"enabled"`
	Threshold  *float64 `yaml:"threshold"`
	NoiseFloor *float64 `yaml:"noise_floor"`
	Masks      []Rect   `yaml:"masks"`
}

// Rect is a zone of the source frame in fractions of its width and height: X, Y the top-left
// corner, W, H the size, so one mask fits every resolution of a camera.
type Rect struct {
	X float64 `yaml:"x"`
	Y float64 `yaml:"y"`
	W float64 `yaml:"w"`
	H float64 `yaml:"h"`
}

// DefaultConfig is the one definition of the gating defaults: off; when on, a clip needs
// 0.3 % of its cells (one cell of the 16×16 grid is 0.39 %) to change by more than 4 luma levels.
func DefaultConfig() Config {
	return Config{Threshold: 0.003, NoiseFloor: 4}
}

// Settings are one stream's resolved gating settings.
type Settings struct {
	Enabled    bool
	Threshold  float64
	NoiseFloor float64
	Masks      []Rect
}

// For resolves stream's settings: the global keys, overridden by its motion.streams entry.
func (c Config) For(stream string) Settings {
	s := Settings{Enabled: c.Enabled, Threshold: c.Threshold, NoiseFloor: c.NoiseFloor, Masks: slices.Clone(c.Masks)}
	o, ok := c.Streams[stream]
	if !ok {
		return s
	}
	if o.Enabled != nil {
		s.Enabled = *o.Enabled
	}
	if o.Threshold != nil {
		s.Threshold = *o.Threshold
	}
	if o.NoiseFloor != nil {
		s.NoiseFloor = *o.NoiseFloor
	}
	s.Masks = append(s.Masks, o.Masks...)
	return s
}

// Validate checks the section; errors name the field by its YAML key.
func (c Config) Validate() error {
	p := confkit.Problems{Sentinel: ErrInvalidConfig}
	checkValues(&p, "", c.Threshold, c.NoiseFloor, c.Masks)
	for _, id := range slices.Sorted(maps.Keys(c.Streams)) {
		at := "streams." + id
		if err := ingest.CheckStreamID(id); err != nil {
			p.Add(at, "is no stream id: %v", err)
		}
		o := c.Streams[id]
		th, nf := c.Threshold, c.NoiseFloor
		if o.Threshold != nil {
			th = *o.Threshold
		}
		if o.NoiseFloor != nil {
			nf = *o.NoiseFloor
		}
		checkValues(&p, at+".", th, nf, o.Masks)
	}
	return p.Err()
}

func checkValues(p *confkit.Problems, at string, threshold, floor float64, masks []Rect) {
	if !(threshold > 0 && threshold <= 1) {
		p.Add(at+"threshold", "must be in (0, 1] (a fraction of the frame's cells), not %v", threshold)
	}
	if !(floor >= 0 && floor < 255) {
		p.Add(at+"noise_floor", "must be in [0, 255) (luma levels), not %v", floor)
	}
	for i, r := range masks {
		if err := r.check(); err != "" {
			p.Add(fmt.Sprintf("%smasks[%d]", at, i), "%s", err)
		}
	}
}

// check says what is wrong with r, or "".
func (r Rect) check() string {
	switch {
	case !(r.W > 0 && r.H > 0):
		return fmt.Sprintf("w and h must be > 0, not %v and %v", r.W, r.H)
	case !(r.X >= 0 && r.Y >= 0):
		return fmt.Sprintf("x and y must be >= 0, not %v and %v", r.X, r.Y)
	case r.X+r.W > 1+1e-9 || r.Y+r.H > 1+1e-9:
		return fmt.Sprintf("must lie inside the frame (x+w and y+h <= 1, fractions of its size), not x+w %v, y+h %v", r.X+r.W, r.Y+r.H)
	}
	return ""
}
