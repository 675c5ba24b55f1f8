package events

import (
	"time"

	"github.com/actionstream/actionstream/confkit"
)

// DefaultSource is the CloudEvents source prefix: events carry source "<prefix>/<stream>".
const DefaultSource = "actionstream"

// Config tunes a Tracker's action lifecycle: the `events` section of the configuration. Times
// are stream time (clip PTS), not wall time, so a file scored faster than real time yields the
// same events as a live camera.
type Config struct {
	// Smoothing is k: each label's score is averaged over the last k clips. 0 = default.
	Smoothing int `yaml:"smoothing"`
	// On and Off are the hysteresis thresholds on the smoothed score: 0 <= Off < On <= 1.
	On  float64 `yaml:"on"`
	Off float64 `yaml:"off"`
	// MinDuration is how long the smoothed score must stay >= On before action.started.
	MinDuration confkit.Duration `yaml:"min_duration"`
	// Cooldown is how long it must stay < Off before action.ended.
	Cooldown confkit.Duration `yaml:"cooldown"`
	// UpdateInterval is the period of action.updated while an action is active; 0 = none.
	UpdateInterval confkit.Duration `yaml:"update_interval"`
	// ClipScored emits clip.scored (the clip's top-k) for every clip.
	ClipScored bool `yaml:"clip_scored"`
	// TopK is the length of clip.scored's top-k (and of the dashboard's). 0 = default.
	TopK int `yaml:"top_k"`
	// Ignore lists labels that never start an action (e.g. a background class).
	Ignore []string `yaml:"ignore"`
	// ResetGap: clips further apart than this in PTS (or going backwards) end every active action
	// and restart smoothing, as after a reconnect. 0 = default.
	ResetGap confkit.Duration `yaml:"reset_gap"`
	// Source is the CloudEvents source prefix. "" = DefaultSource.
	Source string `yaml:"source"`
}

// DefaultConfig returns the documented defaults; it is the one place they are defined.
func DefaultConfig() Config {
	return Config{
		Smoothing: 3, On: 0.6, Off: 0.4, MinDuration: confkit.Duration(time.Second), Cooldown: confkit.Duration(2 * time.Second),
		UpdateInterval: confkit.Duration(5 * time.Second), TopK: 5, ResetGap: confkit.Duration(10 * time.Second), Source: DefaultSource,
	}
}

// WithDefaults fills the fields whose zero value means "default".
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.Smoothing == 0 {
		c.Smoothing = d.Smoothing
	}
	if c.TopK == 0 {
		c.TopK = d.TopK
	}
	if c.ResetGap == 0 {
		c.ResetGap = d.ResetGap
	}
	if c.Source == "" {
		c.Source = d.Source
	}
	return c
}

// Validate checks c; each error names the field by its YAML key and wraps ErrInvalidConfig.
func (c Config) Validate() error {
	p := confkit.Problems{Sentinel: ErrInvalidConfig}
	if c.Smoothing < 0 {
		p.Add("smoothing", "must be >= 1 (0 = default), not %d", c.Smoothing)
	}
	if !(c.On > 0 && c.On <= 1) {
		p.Add("on", "must be in (0, 1], not %v", c.On)
	}
	if !(c.Off >= 0 && c.Off < c.On) {
		p.Add("off", "must be in [0, on=%v), not %v", c.On, c.Off)
	}
	if c.MinDuration < 0 {
		p.Add("min_duration", "must be >= 0")
	}
	if c.Cooldown < 0 {
		p.Add("cooldown", "must be >= 0")
	}
	if c.UpdateInterval < 0 {
		p.Add("update_interval", "must be >= 0 (0 = no updates)")
	}
	if c.TopK < 0 {
		p.Add("top_k", "must be >= 1 (0 = default)")
	}
	if c.ResetGap < 0 {
		p.Add("reset_gap", "must be > 0 (0 = default)")
	}
	for i, l := range c.Ignore {
		if l == "" {
			p.Add("ignore", "entry %d is empty: it must name a label", i)
		}
	}
	return p.Err()
}
