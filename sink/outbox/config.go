package outbox

import (
	"github.com/actionstream/actionstream/confkit"
)

// The caps' defaults, shared by Options and Config.
const (
	DefaultMaxEntries = 1_000_000
	DefaultMaxBytes   = 1 << 30
)

// Config is the outbox's section of the configuration (`sinks.outbox`).
type Config struct {
	// Fsync is the fsync policy: "always", a duration ("100ms") or a count ("64"); see
	// docs/EVENTS.md for each one's loss window.
	Fsync      string `yaml:"fsync"`
	MaxEntries int    `yaml:"max_entries"` // cap on stored events
	MaxBytes   int64  `yaml:"max_bytes"`   // cap on stored event bytes
	// HighWater is the fraction of either cap past which the daemon reports not ready.
	HighWater float64 `yaml:"high_water"`
}

// DefaultConfig is the section's defaults.
func DefaultConfig() Config {
	return Config{Fsync: DefaultSyncPolicy().String(), MaxEntries: DefaultMaxEntries, MaxBytes: DefaultMaxBytes, HighWater: 0.8}
}

// Validate checks the section; errors name the key.
func (c Config) Validate() error {
	var p confkit.Problems
	if _, err := ParseSyncPolicy(c.Fsync); err != nil {
		p.Add("fsync", `%q: want "always", a duration like "100ms" or a count like "64"`, c.Fsync)
	}
	if c.MaxEntries < 1 {
		p.Add("max_entries", "must be >= 1")
	}
	if c.MaxBytes < 1 {
		p.Add("max_bytes", "must be >= 1")
	}
	if c.HighWater <= 0 || c.HighWater > 1 {
		p.Add("high_water", "must be in (0, 1], not %v", c.HighWater)
	}
	return p.Err()
}

// Options returns the Options the section describes (Readers and Logger still to set).
func (c Config) Options() (Options, error) {
	sp, err := ParseSyncPolicy(c.Fsync)
	if err != nil {
		return Options{}, err
	}
	return Options{Sync: sp, MaxEntries: c.MaxEntries, MaxBytes: c.MaxBytes}, nil
}
