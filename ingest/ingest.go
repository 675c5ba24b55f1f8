// Package ingest is the Source contract (anything that produces encoded video packets: a file,
// an RTSP camera, a WHIP publisher) and the Supervisor that restarts a failed source with
// backoff. Sources never loop or reconnect on their own; the Supervisor does.
package ingest

import (
	"context"
	"time"
)

// CodecInfo describes the encoded stream well enough to open a decoder for it.
type CodecInfo struct {
	// Codec is FFmpeg's decoder name: h264, hevc, mpeg4, vp8, vp9, mjpeg, ...
	Codec string
	// Extradata is the codec's out-of-band configuration (avcC, hvcC, VOL header, ...); may be nil
	// when the parameters travel in-band.
	Extradata []byte
	// Width and Height are the coded size when the container knows it, else 0.
	Width, Height int
	// FrameDuration is one frame at the stream's nominal frame rate (container or codec), else
	// 0. The decoder times frames that carry no timestamp at all (raw elementary streams) with it.
	FrameDuration time.Duration
}

// Equal reports whether two CodecInfos would open the same decoder.
func (c *CodecInfo) Equal(o *CodecInfo) bool {
	if c == nil || o == nil {
		return c == o
	}
	if c.Codec != o.Codec || c.Width != o.Width || c.Height != o.Height || c.FrameDuration != o.FrameDuration ||
		len(c.Extradata) != len(o.Extradata) {
		return false
	}
	for i := range c.Extradata {
		if c.Extradata[i] != o.Extradata[i] {
			return false
		}
	}
	return true
}

// Packet is one encoded video packet (an access unit) in decode order.
type Packet struct {
	// Data is the encoded payload. It is only valid until emit returns: a consumer that keeps
	// it must copy it (sources reuse the buffer, which keeps the packet path allocation-free).
	Data []byte
	// PTS is the presentation time relative to the start of the stream, as the container gave
	// it (so it may be out of order: B-frames). A looped file's times keep increasing. When
	// NoPTS is set the container gave none and PTS holds an estimate (the DTS, or the previous
	// packet's time plus its duration) for consumers that need one time.
	PTS   time.Duration
	NoPTS bool
	// DTS is the decode time on the same clock as PTS, valid only when HasDTS. The decoder
	// needs both to time frames as FFmpeg means them (best_effort_timestamp): containers with
	// B-frames but pts = dts, packed B-frames, missing PTS.
	DTS    time.Duration
	HasDTS bool
	// Duration is the packet's duration when the container knows it, else 0.
	Duration time.Duration
	// Wall is when the packet was received (live) or emitted (files).
	Wall time.Time
	// Key marks a packet a decoder can start from.
	Key bool
	// Discard marks a packet to decode but not show: frames before an edit list's start,
	// which later frames may reference.
	Discard bool
	// Codec is non-nil on the first packet of each Run and whenever the parameters change.
	Codec *CodecInfo
}

// Source produces the packets of one video stream.
//
// Contract:
//   - Run owns nothing after it returns: it opens its input, calls emit for each packet in decode
//     order from the calling goroutine, and closes its input before returning.
//   - Run returns nil at a clean end of input (end of file), ctx.Err() (possibly wrapped) when ctx
//     is cancelled, and a wrapped error on any other failure. Errors wrapping ErrPermanent will
//     fail again if retried (bad URL, missing file, unsupported codec); others are worth a retry.
//   - Run never loops or reconnects on its own after a failure; the Supervisor does that.
//   - emit may block (back-pressure); an error returned by emit stops Run, which returns it wrapped.
//   - Run may be called again after it returned (a restart); it must not be called concurrently
//     on the same Source.
type Source interface {
	Run(ctx context.Context, emit func(Packet) error) error
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, emit func(Packet) error) error

// Run calls f.
func (f SourceFunc) Run(ctx context.Context, emit func(Packet) error) error { return f(ctx, emit) }

// EndReasoner is implemented by a Source that can say why its input ended cleanly (a WHIP
// publisher that sent DELETE, a peer connection that closed); consumers fall back to ReasonEnd.
type EndReasoner interface {
	EndReason() string
}
