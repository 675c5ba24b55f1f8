package events

import (
	"fmt"
	"time"
)

// DefaultSource is the CloudEvents source prefix: events carry source "<prefix>/<stream>".
const DefaultSource = "actionstream"

// Config tunes a Tracker's action lifecycle. Times are stream time (clip PTS), not wall time,
// so a file scored faster than real time yields the same events as a live camera.
type Config struct {
	// Smoothing is k: each label's score is averaged over the last k clips. 0 = 3.
	Smoothing int
	// On and Off are the hysteresis thresholds on the smoothed score: 0 <= Off < On <= 1.
	On, Off float64
	// MinDuration is how long the smoothed score must stay >= On before action.started.
	MinDuration time.Duration
	// Cooldown is how long it must stay < Off before action.ended.
	Cooldown time.Duration
	// UpdateInterval is the period of action.updated while an action is active; 0 = none.
	UpdateInterval time.Duration
	// ClipScored emits clip.scored (the clip's top-k) for every clip.
	ClipScored bool
	// TopK is the length of clip.scored's top-k. 0 = 5.
	TopK int
	// Ignore lists labels that never start an action (e.g. a background class).
	Ignore []string
	// ResetGap: clips further apart than this in PTS (or going backwards) end every active action
	// and restart smoothing, as after a reconnect. 0 = 10s.
	ResetGap time.Duration
	// Source is the CloudEvents source prefix. "" = DefaultSource.
	Source string
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Smoothing: 3, On: 0.6, Off: 0.4, MinDuration: time.Second, Cooldown: 2 * time.Second,
		UpdateInterval: 5 * time.Second, TopK: 5, ResetGap: 10 * time.Second, Source: DefaultSource,
	}
}

// WithDefaults fills the fields whose zero value means "default".
func (c Config) WithDefaults() Config {
	if c.Smoothing == 0 {
		c.Smoothing = 3
	}
	if c.TopK == 0 {
		c.TopK = 5
	}
	if c.ResetGap == 0 {
		c.ResetGap = 10 * time.Second
	}
	if c.Source == "" {
		c.Source = DefaultSource
	}
	return c
}

// Validate checks c (after WithDefaults); the error names the field.
func (c Config) Validate() error {
	bad := func(field string, v any, rule string) error {
		return fmt.Errorf("events: %s = %v %s: %w", field, v, rule, ErrInvalidConfig)
	}
	switch {
	case c.Smoothing < 0:
		return bad("Smoothing", c.Smoothing, "must be >= 1 (0 = default)")
	case !(c.On > 0 && c.On <= 1):
		return bad("On", c.On, "must be in (0, 1]")
	case !(c.Off >= 0 && c.Off < c.On):
		return bad("Off", c.Off, fmt.Sprintf("must be in [0, On=%v)", c.On))
	case c.MinDuration < 0:
		return bad("MinDuration", c.MinDuration, "must be >= 0")
	case c.Cooldown < 0:
		return bad("Cooldown", c.Cooldown, "must be >= 0")
	case c.UpdateInterval < 0:
		return bad("UpdateInterval", c.UpdateInterval, "must be >= 0 (0 = no updates)")
	case c.TopK < 0:
		return bad("TopK", c.TopK, "must be >= 1 (0 = default)")
	case c.ResetGap < 0:
		return bad("ResetGap", c.ResetGap, "must be > 0 (0 = default)")
	}
	for i, l := range c.Ignore {
		if l == "" {
			return bad(fmt.Sprintf("Ignore[%d]", i), `""`, "must name a label")
		}
	}
	return nil
}
