// Package demux runs FFmpeg's demuxer (package media) as the core of the file and RTSP
// sources: it turns media's packets into ingest.Packets and its errors into ingest's
// (permanent, stalled), with credentials redacted.
package demux

import (
	"context"
	"errors"
	"time"

	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/media"
)

// Run is media.Demux emitting ingest.Packets. cfg.Name defaults to the redacted URL and
// FFmpeg's messages are redacted. Permanent errors (media.Permanent) also wrap
// ingest.ErrPermanent, and media.ErrStalled also ingest.ErrStalled.
func Run(ctx context.Context, cfg media.DemuxConfig, emit func(ingest.Packet) error) (media.DemuxResult, error) {
	if cfg.Name == "" {
		cfg.Name = ingest.Redact(cfg.URL)
	}
	url := cfg.URL
	cfg.Redact = func(s string) string { return ingest.RedactIn(s, url) }
	res, err := media.Demux(ctx, cfg, func(mp media.Packet) error {
		return emit(Packet(mp, time.Now()))
	})
	switch {
	case err == nil:
	case media.Permanent(err):
		err = classified{err, ingest.ErrPermanent}
	case errors.Is(err, media.ErrStalled):
		err = classified{err, ingest.ErrStalled}
	}
	return res, err
}

// classified is err, also matching class in errors.Is, with err's message.
type classified struct{ err, class error }

func (c classified) Error() string   { return c.err.Error() }
func (c classified) Unwrap() []error { return []error{c.err, c.class} }

// Packet converts one media packet received at wall; Data still aliases FFmpeg memory.
func Packet(mp media.Packet, wall time.Time) ingest.Packet {
	p := ingest.Packet{Data: mp.Data, PTS: mp.PTS, NoPTS: mp.NoPTS, DTS: mp.DTS, HasDTS: mp.HasDTS,
		Duration: mp.Duration, Wall: wall, Key: mp.Key, Discard: mp.Discard}
	if mp.Info != nil {
		p.Codec = &ingest.CodecInfo{Codec: mp.Info.Codec, Extradata: mp.Info.Extradata, Width: mp.Info.Width,
			Height: mp.Info.Height, FrameDuration: mp.Info.FrameDuration}
	}
	return p
}
