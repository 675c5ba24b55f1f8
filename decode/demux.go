package decode

/*
#include "ffhelpers.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/actionstream/actionstream/ingest"
)

// DemuxConfig configures one pass of Demux over an input.
type DemuxConfig struct {
	// URL is what avformat_open_input gets: a path, file:, rtsp:, ... It may carry credentials;
	// Demux only ever logs and returns Name.
	URL string
	// Name identifies the input in errors and logs (credentials redacted); "" = ingest.Redact(URL).
	Name string
	// Format forces an input format (FFmpeg short name); "" probes.
	Format string
	// Options are FFmpeg format/protocol options (rtsp_transport, timeout, ...).
	Options map[string]string
	// OpenTimeout bounds opening and probing; StallTimeout bounds the time between packets once
	// open. Both work through FFmpeg's interrupt callback, so they also cut blocking socket reads.
	// 0 disables each.
	OpenTimeout, StallTimeout time.Duration
	// Paced emits packets at native speed (by DTS) instead of as fast as possible.
	Paced bool
	// PTSOffset is added to every timestamp (a looped file continues where the last pass ended).
	PTSOffset time.Duration
	Logger    *slog.Logger
}

// DemuxResult describes a finished pass.
type DemuxResult struct {
	Packets int64
	// End is the largest PTS+duration emitted (PTSOffset included): where a next loop starts.
	End time.Duration
}

// Demux opens the input, picks its best video stream and calls emit for each of that stream's
// packets in decode order, with PTS converted to a time.Duration from the stream start. The
// packet's Data aliases FFmpeg memory valid only until emit returns. It returns nil at end of
// input, ctx.Err() (wrapped) on cancellation, an error wrapping ingest.ErrStalled when no packet
// arrived within StallTimeout, an error wrapping ErrNoVideo/ErrUnsupportedCodec (permanent), or
// one wrapping ErrOpen/ErrRead.
func Demux(ctx context.Context, cfg DemuxConfig, emit func(ingest.Packet) error) (DemuxResult, error) {
	var res DemuxResult
	if cfg.Name == "" {
		cfg.Name = ingest.Redact(cfg.URL)
	}
	redact := func(err error) string { return ingest.RedactIn(err.Error(), cfg.URL) }
	if err := ctx.Err(); err != nil {
		return res, err
	}
	quietFFmpeg()

	fc := astiav.AllocFormatContext()
	if fc == nil {
		return res, fmt.Errorf("%s: %w: allocating format context", cfg.Name, ErrOpen)
	}
	interrupter := fc.SetInterruptCallback()
	// FFmpeg polls the flag through a pointer into this Go object until the input is closed;
	// keep it alive past CloseInput (deferred later, so it runs earlier).
	defer runtime.KeepAlive(interrupter)

	// The watchdog is the only goroutine here; Demux waits for it before returning.
	var (
		lastProgress atomic.Int64 // unix nanos of the last packet or of the open start, or notWaiting
		stalled      atomic.Bool
		opened       atomic.Bool
	)
	lastProgress.Store(time.Now().UnixNano())
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		period := 100 * time.Millisecond
		if t := min(nonZero(cfg.OpenTimeout), nonZero(cfg.StallTimeout)) / 5; t < period && t > 0 {
			period = max(t, 10*time.Millisecond)
		}
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				interrupter.Interrupt()
				return
			case now := <-tick.C:
				limit := cfg.OpenTimeout
				if opened.Load() {
					limit = cfg.StallTimeout
				}
				if limit > 0 && now.UnixNano()-lastProgress.Load() > int64(limit) {
					stalled.Store(true)
					interrupter.Interrupt()
					return
				}
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	// interruptErr explains an FFmpeg error that the watchdog caused.
	interruptErr := func(err error, phase string) error {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %s: %w", cfg.Name, phase, ctx.Err())
		}
		if stalled.Load() {
			limit := cfg.OpenTimeout
			if opened.Load() {
				limit = cfg.StallTimeout
			}
			return fmt.Errorf("%s: %s: nothing received for %v: %w", cfg.Name, phase, limit, ingest.ErrStalled)
		}
		return nil
	}

	var dict *astiav.Dictionary
	if len(cfg.Options) > 0 {
		dict = astiav.NewDictionary()
		defer dict.Free()
		for k, v := range cfg.Options {
			if err := dict.Set(k, v, 0); err != nil {
				fc.Free()
				return res, fmt.Errorf("%s: option %s: %w", cfg.Name, k, err)
			}
		}
	}
	var ifmt *astiav.InputFormat
	if cfg.Format != "" {
		if ifmt = astiav.FindInputFormat(cfg.Format); ifmt == nil {
			fc.Free()
			return res, fmt.Errorf("%s: unknown input format %q: %w", cfg.Name, cfg.Format, ingest.ErrPermanent)
		}
	}
	if err := fc.OpenInput(cfg.URL, ifmt, dict); err != nil {
		fc.Free()
		if ie := interruptErr(err, "open"); ie != nil {
			return res, ie
		}
		return res, fmt.Errorf("%s: %w: %s", cfg.Name, ErrOpen, redact(err))
	}
	defer fc.CloseInput()
	if err := fc.FindStreamInfo(nil); err != nil {
		if ie := interruptErr(err, "probe"); ie != nil {
			return res, ie
		}
		return res, fmt.Errorf("%s: %w: stream info: %s", cfg.Name, ErrOpen, redact(err))
	}

	var vs *astiav.Stream
	for _, s := range fc.Streams() {
		if s.CodecParameters().MediaType() == astiav.MediaTypeVideo {
			vs = s
			break
		}
	}
	if vs == nil {
		return res, fmt.Errorf("%s: %w", cfg.Name, ErrNoVideo)
	}
	cp := vs.CodecParameters()
	dec := astiav.FindDecoder(cp.CodecID())
	if dec == nil {
		return res, fmt.Errorf("%s: codec %s: %w", cfg.Name, cp.CodecID(), ErrUnsupportedCodec)
	}
	info := &ingest.CodecInfo{Codec: dec.Name(), Extradata: cp.ExtraData(), Width: cp.Width(), Height: cp.Height(),
		FrameDuration: frameDuration(vs.AvgFrameRate(), vs.RFrameRate())}
	tb := vs.TimeBase()
	num, den := int64(tb.Num()), int64(tb.Den())
	if num <= 0 || den <= 0 {
		num, den = 1, 90000
	}
	start := vs.StartTime()
	vidx := vs.Index()
	opened.Store(true)
	lastProgress.Store(time.Now().UnixNano())

	pkt := astiav.AllocPacket()
	defer pkt.Free()
	raw := rawPacket(pkt)

	// A packet without timestamps (FFmpeg's RTSP demuxer returns the first one so) follows the
	// previous one.
	lastPTS := cfg.PTSOffset
	var (
		lastDur  time.Duration
		paceWall time.Time
		paceDTS  time.Duration
		timer    *time.Timer
	)
	if cfg.Paced {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
	}
	for {
		if err := fc.ReadFrame(pkt); err != nil {
			if ie := interruptErr(err, "read"); ie != nil {
				return res, ie
			}
			if errors.Is(err, astiav.ErrEof) {
				return res, nil
			}
			return res, fmt.Errorf("%s: %w: %s", cfg.Name, ErrRead, redact(err))
		}
		lastProgress.Store(time.Now().UnixNano())
		if int(raw.stream_index) != vidx {
			pkt.Unref()
			continue
		}
		pts, dts := int64(raw.pts), int64(raw.dts)
		if start == noPTS {
			switch {
			case pts != noPTS:
				start = pts
			case dts != noPTS:
				start = dts
			}
		}
		var p ingest.Packet
		if dts != noPTS {
			p.DTS, p.HasDTS = scaleTS(dts-start, num, den)+cfg.PTSOffset, true
		}
		switch {
		case pts != noPTS:
			p.PTS = scaleTS(pts-start, num, den) + cfg.PTSOffset
		case p.HasDTS:
			p.PTS, p.NoPTS = p.DTS, true
		default:
			p.PTS, p.NoPTS = lastPTS+lastDur, true
		}
		if raw.duration > 0 {
			p.Duration = scaleTS(int64(raw.duration), num, den)
			lastDur = p.Duration
		}
		lastPTS = p.PTS
		if end := p.PTS + p.Duration; end > res.End {
			res.End = end
		}
		if cfg.Paced {
			d := p.PTS
			if p.HasDTS {
				d = p.DTS
			}
			if paceWall.IsZero() {
				paceWall, paceDTS = time.Now(), d
			} else if wait := time.Until(paceWall.Add(d - paceDTS)); wait > 0 {
				lastProgress.Store(notWaiting)
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					pkt.Unref()
					return res, fmt.Errorf("%s: %w", cfg.Name, ctx.Err())
				case <-timer.C:
				}
				lastProgress.Store(time.Now().UnixNano())
			}
		}
		p.Data = packetData(raw)
		p.Key = raw.flags&C.AV_PKT_FLAG_KEY != 0
		p.Discard = raw.flags&C.AV_PKT_FLAG_DISCARD != 0
		p.Wall = time.Now()
		if res.Packets == 0 {
			p.Codec = info
		}
		// emit may block (back-pressure); that is not the input stalling.
		lastProgress.Store(notWaiting)
		err := emit(p)
		pkt.Unref()
		if err != nil {
			return res, fmt.Errorf("%s: %w", cfg.Name, err)
		}
		res.Packets++
		lastProgress.Store(time.Now().UnixNano())
	}
}

// notWaiting as the last progress time keeps the watchdog quiet while Demux itself holds up
// reading (emit blocking, pacing).
const notWaiting = int64(1<<63 - 1)

func nonZero(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Duration(1<<63 - 1)
	}
	return d
}

// frameDuration is one frame at the stream's average frame rate, else its base rate, else 0.
func frameDuration(rates ...astiav.Rational) time.Duration {
	for _, r := range rates {
		// Demuxers that know nothing report 0/0, 0/1 or absurd rates like 90000/1.
		if r.Num() > 0 && r.Den() > 0 && r.Num() <= 1000*r.Den() {
			return time.Duration(int64(r.Den()) * int64(time.Second) / int64(r.Num()))
		}
	}
	return 0
}

// scaleTS converts v ticks of num/den seconds to a Duration without overflowing for any
// realistic stream length.
func scaleTS(v, num, den int64) time.Duration {
	q, r := v/den, v%den
	return time.Duration(q*num*int64(time.Second) + r*num*int64(time.Second)/den)
}
