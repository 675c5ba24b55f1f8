package ingest

import (
	"fmt"
	"strings"
	"time"

	"github.com/actionstream/actionstream/confkit"
)

// StreamConfig is one entry of the `streams` list: a camera or a file.
type StreamConfig struct {
	ID   string `yaml:"id"`
	URL  string `yaml:"url"`  // rtsp://…, rtsps://…, file://… or a plain path
	Loop bool   `yaml:"loop"` // files only: start again at the end
	// Transport is rtsp only: tcp (the default) or udp.
	Transport string `yaml:"transport"`
	// StallTimeout: a live source that delivers nothing this long is reconnected; 0 = the
	// source's default.
	StallTimeout confkit.Duration `yaml:"stall_timeout"`
}

// Source kinds, as URLKind names them.
const (
	KindRTSP = "rtsp"
	KindFile = "file"
)

// URLKind says which source serves a stream URL: KindRTSP, KindFile, or "" for none.
func URLKind(u string) string {
	switch {
	case strings.HasPrefix(u, "rtsp://"), strings.HasPrefix(u, "rtsps://"):
		return KindRTSP
	case strings.HasPrefix(u, "file://"):
		return KindFile
	case strings.Contains(u, "://"):
		return ""
	default:
		return KindFile
	}
}

// Validate checks one stream entry; errors name the field by its YAML key.
func (s StreamConfig) Validate() error {
	var p confkit.Problems
	switch {
	case s.ID == "":
		p.Add("id", "is required")
	case !validStreamID(s.ID):
		p.Add("id", "%q: use %s", s.ID, StreamIDRule)
	}
	if s.URL == "" {
		p.Add("url", "is required")
	} else if k := URLKind(s.URL); k == "" {
		p.Add("url", "scheme must be rtsp://, file:// or a plain path")
	} else if k != KindRTSP && s.Transport != "" {
		p.Add("transport", "applies to rtsp:// only")
	}
	switch s.Transport {
	case "", "tcp", "udp":
	default:
		p.Add("transport", "must be tcp or udp, not %q", s.Transport)
	}
	if s.StallTimeout < 0 {
		p.Add("stall_timeout", "must be >= 0")
	}
	return p.Err()
}

// ValidateStreams checks every entry and that no id is used twice; paths are "[i].field".
func ValidateStreams(streams []StreamConfig) error {
	var p confkit.Problems
	seen := map[string]bool{}
	for i, s := range streams {
		at := fmt.Sprintf("[%d]", i)
		p.Nest(at, s.Validate())
		if s.ID != "" && seen[s.ID] {
			p.Add(at+".id", "%q is used twice", s.ID)
		}
		seen[s.ID] = true
	}
	return p.Err()
}

func validStreamID(id string) bool { return CheckStreamID(id) == nil }

// StreamIDRule is the documented stream id charset: 1 to 128 of letters, digits, '-', '_' and
// '.', not starting with '.' (so never "." or ".." or a hidden file name in a path or URL).
const StreamIDRule = "1 to 128 letters, digits, '-', '_' or '.', not starting with '.'"

// CheckStreamID says why id breaks StreamIDRule (an error wrapping ErrBadStreamID), or nil.
func CheckStreamID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrBadStreamID)
	case len(id) > 128:
		return fmt.Errorf("%w: longer than 128 bytes", ErrBadStreamID)
	case id[0] == '.':
		return fmt.Errorf("%w: %q starts with '.'", ErrBadStreamID, id)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("%w: %q holds %q", ErrBadStreamID, id, r)
		}
	}
	return nil
}

// Backoff is the `supervisor` section: how a failed source is restarted.
type Backoff struct {
	// Initial is the first retry delay; it doubles per consecutive failure up to Max.
	Initial confkit.Duration `yaml:"backoff_initial"`
	Max     confkit.Duration `yaml:"backoff_max"`
}

// DefaultBackoff is the one definition of the supervisor's backoff defaults.
func DefaultBackoff() Backoff {
	return Backoff{Initial: confkit.Duration(500 * time.Millisecond), Max: confkit.Duration(30 * time.Second)}
}

// Validate checks the section; errors name the field by its YAML key.
func (b Backoff) Validate() error {
	var p confkit.Problems
	if b.Initial <= 0 {
		p.Add("backoff_initial", "must be > 0")
	}
	if b.Max < b.Initial {
		p.Add("backoff_max", "must be >= backoff_initial (%v)", b.Initial)
	}
	return p.Err()
}

// SupervisorConfig is a stream's supervisor config with this backoff; the caller adds the
// callbacks and the logger.
func (b Backoff) SupervisorConfig(stream string) SupervisorConfig {
	return SupervisorConfig{Stream: stream, MinBackoff: b.Initial.D(), MaxBackoff: b.Max.D()}
}
