// Package media owns every cgo and FFmpeg call of actionstream: demuxing an input (Demux),
// decoding packets and scaling frames (Decoder), and FFmpeg's logging. It imports no stage
// package; ingest sources demux through it and decode decodes and scales through it, so the
// stage order ingest -> decode holds. Objects are created and opened through go-astiav; the hot
// path calls FFmpeg directly (see raw.go).
package media

import "time"

// NoTS marks a missing timestamp in Decoder calls (FFmpeg's AV_NOPTS_VALUE).
const NoTS = int64(-1 << 63)

// StreamInfo describes the demuxed video stream well enough to open a decoder for it.
type StreamInfo struct {
	// Codec is FFmpeg's decoder name: h264, hevc, mpeg4, vp8, vp9, mjpeg, ...
	Codec string
	// Extradata is the codec's out-of-band configuration (avcC, hvcC, VOL header, ...) or nil.
	Extradata []byte
	// Width and Height are the coded size when the container knows it, else 0.
	Width, Height int
	// FrameDuration is one frame at the stream's nominal frame rate, else 0.
	FrameDuration time.Duration
}

// Packet is one demuxed video packet in decode order, its times converted to durations from
// the stream start (plus DemuxConfig.PTSOffset).
type Packet struct {
	// Data aliases FFmpeg memory valid only until the emit callback returns.
	Data []byte
	// PTS is valid unless NoPTS (then it holds the DTS, or the previous packet's time plus its
	// duration); DTS is valid only if HasDTS.
	PTS, DTS      time.Duration
	NoPTS, HasDTS bool
	// Duration is the packet's duration when the container knows it, else 0.
	Duration time.Duration
	// Key marks a packet a decoder can start from; Discard one to decode but not show (before
	// an edit list's start).
	Key, Discard bool
	// Info is non-nil on the first packet of a Demux call.
	Info *StreamInfo
}
