// Package rtsp is the Source for RTSP cameras, pulled through FFmpeg's RTSP demuxer (RFC 2326).
// TCP (interleaved) transport is the default because it survives NAT and loss without smearing
// frames; UDP is an option. A camera that stops sending is noticed within StallTimeout through
// FFmpeg's interrupt callback. Credentials in the URL are never logged or returned in errors.
package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/media"
)

// Transports.
const (
	TCP = "tcp"
	UDP = "udp"
)

// DefaultStallTimeout is used when Config.StallTimeout is 0.
const DefaultStallTimeout = 5 * time.Second

// ErrEnded: the server ended the stream (a live camera should not); worth a reconnect.
var ErrEnded = errors.New("rtsp stream ended")

// Config configures an RTSP Source.
type Config struct {
	Stream string // for logs
	// URL is rtsp://[user:password@]host[:port]/path (rtsps:// too).
	URL string
	// Transport is "tcp" (default) or "udp".
	Transport string
	// StallTimeout: no packet for this long fails the run with ingest.ErrStalled (default 5s).
	StallTimeout time.Duration
	// OpenTimeout bounds connecting, DESCRIBE/SETUP/PLAY and probing (default 2×StallTimeout).
	OpenTimeout time.Duration
	// Options are extra FFmpeg RTSP demuxer options (e.g. "buffer_size"); they override ours.
	Options map[string]string
	Logger  *slog.Logger
}

// Source pulls one RTSP stream. It implements ingest.Source.
type Source struct {
	cfg  Config
	name string // redacted URL
	log  *slog.Logger
	// Timestamps continue across reconnects: the next run starts at the last PTS plus the wall
	// time spent reconnecting, so the clipper sees the real gap instead of time going back.
	end      time.Duration
	lastWall time.Time
}

// New validates the configuration; nothing is connected until Run.
func New(cfg Config) (*Source, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("rtsp URL %s: invalid: %w", ingest.Redact(cfg.URL), ingest.ErrPermanent)
	}
	if s := strings.ToLower(u.Scheme); s != "rtsp" && s != "rtsps" {
		return nil, fmt.Errorf("rtsp URL %s: scheme %q is not rtsp: %w", ingest.Redact(cfg.URL), u.Scheme, ingest.ErrPermanent)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("rtsp URL %s: no host: %w", ingest.Redact(cfg.URL), ingest.ErrPermanent)
	}
	switch strings.ToLower(cfg.Transport) {
	case "", TCP:
		cfg.Transport = TCP
	case UDP:
		cfg.Transport = UDP
	default:
		return nil, fmt.Errorf("rtsp transport %q: want tcp or udp: %w", cfg.Transport, ingest.ErrPermanent)
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 2 * cfg.StallTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	name := ingest.Redact(cfg.URL)
	return &Source{cfg: cfg, name: name, log: cfg.Logger.With("component", "ingest.rtsp", "stream", cfg.Stream, "url", name)}, nil
}

// Name is the URL with credentials redacted.
func (s *Source) Name() string { return s.name }

// Run connects, plays and emits packets until ctx is cancelled or the stream fails. It never
// returns nil: a server ending the stream is ErrEnded, a silent one ingest.ErrStalled, both
// retryable; a bad URL, no video or an unknown codec wrap ingest.ErrPermanent.
func (s *Source) Run(ctx context.Context, emit func(ingest.Packet) error) error {
	opts := map[string]string{
		"rtsp_transport": s.cfg.Transport,
		// Socket I/O timeout in µs: a backstop behind the interrupt callback, set longer so the
		// callback fires first and the failure is reported as a stall.
		"timeout": strconv.FormatInt((max(s.cfg.StallTimeout, s.cfg.OpenTimeout) + time.Second).Microseconds(), 10),
	}
	for k, v := range s.cfg.Options {
		opts[k] = v
	}
	offset := s.end
	if !s.lastWall.IsZero() {
		offset += time.Since(s.lastWall)
	}
	s.log.Debug("connecting", "transport", s.cfg.Transport, "pts_offset", offset)
	res, err := demux.Run(ctx, media.DemuxConfig{
		URL: s.cfg.URL, Name: s.name, Format: "rtsp", Options: opts,
		OpenTimeout: s.cfg.OpenTimeout, StallTimeout: s.cfg.StallTimeout,
		PTSOffset: offset,
	}, emit)
	if res.Packets > 0 {
		s.end = max(s.end, res.End)
		s.lastWall = time.Now()
	}
	if err != nil {
		return fmt.Errorf("rtsp source: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("rtsp source %s: %w after %d packets", s.name, ErrEnded, res.Packets)
}
