// Package sources turns a configured stream into the ingest.Source that serves its URL scheme:
// rtsp:// and rtsps:// (ingest/rtsp), file:// and plain paths (ingest/file). It is a package of
// its own because it imports those sources, which import ingest.
package sources

import (
	"fmt"
	"log/slog"

	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/file"
	"github.com/actionstream/actionstream/ingest/rtsp"
)

// Options are how the caller runs the sources, beyond the stream's config.
type Options struct {
	// OneShot reads files once as fast as the consumer takes them (no pacing, no loop).
	OneShot bool
	Logger  *slog.Logger
}

// New returns the source for sc; the error of a URL no source serves wraps ErrUnsupportedURL
// and shows the URL with its credentials redacted.
func New(sc ingest.StreamConfig, opts Options) (ingest.Source, error) {
	switch ingest.URLKind(sc.URL) {
	case ingest.KindRTSP:
		return rtsp.New(rtsp.Config{Stream: sc.ID, URL: sc.URL, Transport: sc.Transport, StallTimeout: sc.StallTimeout.D(), Logger: opts.Logger})
	case ingest.KindFile:
		return file.New(file.Config{Stream: sc.ID, URL: sc.URL, Loop: sc.Loop && !opts.OneShot, Paced: !opts.OneShot, Logger: opts.Logger})
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedURL, ingest.Redact(sc.URL))
}
