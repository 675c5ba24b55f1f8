// Package file is the Source for video files: plain paths and file:// URLs, played once or in
// a loop, as fast as possible (run, bench) or at native speed (serve).
package file

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"time"

	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/media"
)

// Config configures a file Source.
type Config struct {
	Stream string // for logs
	// URL is a path or a file:// URL.
	URL string
	// Loop restarts at the end of the file, with timestamps continuing from the previous pass.
	Loop bool
	// Paced emits packets at native speed by their timestamps; otherwise as fast as the consumer
	// takes them.
	Paced  bool
	Logger *slog.Logger
}

// Source plays a video file. It implements ingest.Source.
type Source struct {
	cfg  Config
	path string
	log  *slog.Logger
	// offset is where the next pass's timestamps start, kept across Run calls so a restarted
	// or looped file never goes back in time.
	offset time.Duration
}

// Path returns the filesystem path named by a plain path or a file:// URL.
func Path(raw string) (string, error) {
	if !strings.HasPrefix(strings.ToLower(raw), "file:") {
		if raw == "" {
			return "", fmt.Errorf("empty path: %w", ingest.ErrPermanent)
		}
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("file URL %q: %v: %w", raw, err, ingest.ErrPermanent)
	}
	p := u.Path
	if u.Opaque != "" {
		p = u.Opaque // file:relative/path
	} else if u.Host != "" && u.Host != "localhost" {
		p = u.Host + u.Path // file://relative/path, a common slip
	}
	if p == "" {
		return "", fmt.Errorf("file URL %q has no path: %w", raw, ingest.ErrPermanent)
	}
	return p, nil
}

// New checks the configuration; the file itself is opened by Run.
func New(cfg Config) (*Source, error) {
	p, err := Path(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Source{cfg: cfg, path: p, log: cfg.Logger.With("component", "ingest.file", "stream", cfg.Stream)}, nil
}

// Run plays the file (once, or until ctx is cancelled with Loop). It returns nil at the end of
// a non-looping file, and an error wrapping ingest.ErrPermanent when the file is missing,
// unreadable, or has no decodable video.
func (s *Source) Run(ctx context.Context, emit func(ingest.Packet) error) error {
	if _, err := os.Stat(s.path); err != nil {
		return fmt.Errorf("file source %s: %w: %w", s.path, err, ingest.ErrPermanent)
	}
	for pass := 0; ; pass++ {
		res, err := demux.Run(ctx, media.DemuxConfig{
			// "file:" keeps FFmpeg from reading a colon in the name as a protocol.
			URL: "file:" + s.path, Name: s.path, Paced: s.cfg.Paced, PTSOffset: s.offset,
		}, emit)
		if res.End > s.offset {
			s.offset = res.End
		}
		if err != nil {
			return fmt.Errorf("file source: %w", err)
		}
		if !s.cfg.Loop {
			return nil
		}
		if res.Packets == 0 {
			return fmt.Errorf("file source %s: no video packets to loop: %w", s.path, ingest.ErrPermanent)
		}
		s.log.Debug("looping", "pass", pass+1, "pts", s.offset)
	}
}
