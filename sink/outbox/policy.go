package outbox

import (
	"fmt"
	"strconv"
	"time"
)

// SyncMode says when appended entries are committed (written and fsynced).
type SyncMode int

const (
	// SyncAlways commits before Append returns: nothing acknowledged is ever lost.
	SyncAlways SyncMode = iota + 1
	// SyncInterval commits every Interval; Append returns at once.
	SyncInterval
	// SyncCount commits when Count entries are pending (that Append waits for the commit), and
	// at least every second.
	SyncCount
)

// DefaultSyncPolicy returns the policy used when Options.Sync is zero: SyncAlways. An event
// the lifecycle has emitted is then never lost, and the pipeline's event rate is far below
// what one fsync per AppendBatch sustains (docs/BENCHMARKS.md).
func DefaultSyncPolicy() SyncPolicy { return SyncPolicy{Mode: SyncAlways} }

// countFlushPeriod bounds how long entries wait under SyncCount when fewer than Count arrive.
const countFlushPeriod = time.Second

// SyncPolicy is the fsync policy. Its text form (ParseSyncPolicy, String) is "always", a
// duration such as "100ms", or an entry count such as "64".
type SyncPolicy struct {
	Mode     SyncMode
	Interval time.Duration // SyncInterval only
	Count    int           // SyncCount only
}

// ParseSyncPolicy parses "always", a Go duration ("100ms", "1s") or a positive count ("64").
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	if s == "always" {
		return SyncPolicy{Mode: SyncAlways}, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		p := SyncPolicy{Mode: SyncCount, Count: n}
		return p, p.validate()
	}
	if d, err := time.ParseDuration(s); err == nil {
		p := SyncPolicy{Mode: SyncInterval, Interval: d}
		return p, p.validate()
	}
	return SyncPolicy{}, fmt.Errorf(`%w: fsync policy %q: want "always", a duration like "100ms" or a count like "64"`, ErrOptions, s)
}

func (p SyncPolicy) validate() error {
	switch p.Mode {
	case SyncAlways:
		return nil
	case SyncInterval:
		if p.Interval <= 0 {
			return fmt.Errorf("%w: fsync interval %s must be positive", ErrOptions, p.Interval)
		}
		return nil
	case SyncCount:
		if p.Count <= 0 {
			return fmt.Errorf("%w: fsync count %d must be positive", ErrOptions, p.Count)
		}
		return nil
	}
	return fmt.Errorf("%w: fsync mode %d unknown", ErrOptions, p.Mode)
}

// String returns the text form ParseSyncPolicy reads.
func (p SyncPolicy) String() string {
	switch p.Mode {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return p.Interval.String()
	case SyncCount:
		return strconv.Itoa(p.Count)
	}
	return fmt.Sprintf("SyncPolicy(%d)", p.Mode)
}
