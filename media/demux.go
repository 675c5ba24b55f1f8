package media

/*
#include "ffhelpers.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/asticode/go-astiav"
)

// DemuxConfig configures one pass of Demux over an input.
type DemuxConfig struct {
	// URL is what avformat_open_input gets: a path, file:, rtsp:, ... It may carry credentials;
	// Demux only ever reports Name and FFmpeg messages passed through Redact.
	URL string
	// Name identifies the input in errors (credentials redacted); "" = "input".
	Name string
	// Redact scrubs credentials from FFmpeg's error text; nil leaves it as it is.
	Redact func(string) string
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
}

// DemuxResult describes a finished pass.
type DemuxResult struct {
	Packets int64
	// End is the largest PTS+duration emitted (PTSOffset included): where a next loop starts.
	End time.Duration
}

// Demux opens the input, picks its first video stream and calls emit for each of that stream's
// packets in decode order. It returns nil at end of input, ctx.Err() (wrapped) on cancellation,
// an error wrapping ErrStalled when nothing arrived within a timeout, a Permanent one
// (ErrNoVideo, ErrUnsupportedCodec, ErrUnknownFormat), or one wrapping ErrOpen/ErrRead.
func Demux(ctx context.Context, cfg DemuxConfig, emit func(Packet) error) (DemuxResult, error) {
	if cfg.Name == "" {
		cfg.Name = "input"
	}
	if cfg.Redact == nil {
		cfg.Redact = func(s string) string { return s }
	}
	if err := ctx.Err(); err != nil {
		return DemuxResult{}, err
	}
	QuietFFmpeg()
	d, err := openDemuxer(ctx, cfg)
	if err != nil {
		return DemuxResult{}, err
	}
	defer d.close()
	return d.readLoop(ctx, emit)
}

// demuxer is one open input: the format context, its watchdog and the chosen stream.
type demuxer struct {
	cfg  DemuxConfig
	fc   *astiav.FormatContext
	dog  *watchdog
	dict *astiav.Dictionary
	info StreamInfo
	ts   timestamps
	vidx int
	pkt  *astiav.Packet
	raw  *C.AVPacket
	res  DemuxResult
}

// openDemuxer opens and probes the input and picks its video stream. On error everything it
// made is already freed.
func openDemuxer(ctx context.Context, cfg DemuxConfig) (*demuxer, error) {
	d := &demuxer{cfg: cfg}
	d.fc = astiav.AllocFormatContext()
	if d.fc == nil {
		return nil, fmt.Errorf("%s: %w: allocating format context", cfg.Name, ErrOpen)
	}
	d.dog = startWatchdog(ctx, d.fc.SetInterruptCallback(), cfg.OpenTimeout, cfg.StallTimeout)
	if err := d.openInput(ctx); err != nil {
		d.dog.stop()
		d.fc.Free()
		d.freeDict()
		return nil, err
	}
	if err := d.probe(ctx); err != nil {
		d.closeInput()
		return nil, err
	}
	d.pkt = astiav.AllocPacket()
	d.raw = rawPacket(d.pkt)
	d.dog.opened()
	return d, nil
}

func (d *demuxer) openInput(ctx context.Context) error {
	if len(d.cfg.Options) > 0 {
		d.dict = astiav.NewDictionary()
		for k, v := range d.cfg.Options {
			if err := d.dict.Set(k, v, 0); err != nil {
				return fmt.Errorf("%s: option %s: %w", d.cfg.Name, k, err)
			}
		}
	}
	var ifmt *astiav.InputFormat
	if d.cfg.Format != "" {
		if ifmt = astiav.FindInputFormat(d.cfg.Format); ifmt == nil {
			return fmt.Errorf("%s: %q: %w", d.cfg.Name, d.cfg.Format, ErrUnknownFormat)
		}
	}
	if err := d.fc.OpenInput(d.cfg.URL, ifmt, d.dict); err != nil {
		return d.failure(ctx, err, "open", ErrOpen)
	}
	return nil
}

func (d *demuxer) probe(ctx context.Context) error {
	if err := d.fc.FindStreamInfo(nil); err != nil {
		return d.failure(ctx, err, "stream info", ErrOpen)
	}
	var vs *astiav.Stream
	for _, s := range d.fc.Streams() {
		if s.CodecParameters().MediaType() == astiav.MediaTypeVideo {
			vs = s
			break
		}
	}
	if vs == nil {
		return fmt.Errorf("%s: %w", d.cfg.Name, ErrNoVideo)
	}
	cp := vs.CodecParameters()
	dec := astiav.FindDecoder(cp.CodecID())
	if dec == nil {
		return fmt.Errorf("%s: codec %s: %w", d.cfg.Name, cp.CodecID(), ErrUnsupportedCodec)
	}
	d.info = StreamInfo{Codec: dec.Name(), Extradata: cp.ExtraData(), Width: cp.Width(), Height: cp.Height(),
		FrameDuration: frameDuration(vs.AvgFrameRate(), vs.RFrameRate())}
	d.ts = newTimestamps(vs.TimeBase(), vs.StartTime(), d.cfg.PTSOffset)
	d.vidx = vs.Index()
	return nil
}

// failure explains an FFmpeg error: the watchdog's doing (cancelled, stalled) or kind.
func (d *demuxer) failure(ctx context.Context, err error, phase string, kind error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %s: %w", d.cfg.Name, phase, ctx.Err())
	}
	if limit, ok := d.dog.stalled(); ok {
		return fmt.Errorf("%s: %s: nothing received for %v: %w", d.cfg.Name, phase, limit, ErrStalled)
	}
	return fmt.Errorf("%s: %w: %s: %s", d.cfg.Name, kind, phase, d.cfg.Redact(err.Error()))
}

// readLoop emits the video stream's packets until the end of input or an error.
func (d *demuxer) readLoop(ctx context.Context, emit func(Packet) error) (DemuxResult, error) {
	pace := newPacer(d.cfg.Paced)
	defer pace.stop()
	var yield yielder
	for {
		if err := d.fc.ReadFrame(d.pkt); err != nil {
			if errors.Is(err, astiav.ErrEof) && ctx.Err() == nil {
				if _, stalled := d.dog.stalled(); !stalled {
					return d.res, nil
				}
			}
			return d.res, d.failure(ctx, err, "read", ErrRead)
		}
		d.dog.progress()
		if int(d.raw.stream_index) != d.vidx {
			d.pkt.Unref()
			continue
		}
		p := d.packet()
		if d.cfg.Paced {
			at := p.PTS
			if p.HasDTS {
				at = p.DTS
			}
			d.dog.hold() // waiting for the pace is not the input stalling
			err := pace.wait(ctx, at)
			d.dog.progress()
			if err != nil {
				d.pkt.Unref()
				return d.res, fmt.Errorf("%s: %w", d.cfg.Name, err)
			}
		}
		// emit may block (back-pressure); that is not the input stalling either.
		d.dog.hold()
		err := emit(p)
		d.pkt.Unref()
		if err != nil {
			return d.res, fmt.Errorf("%s: %w", d.cfg.Name, err)
		}
		d.res.Packets++
		d.dog.progress()
		yield.maybe()
	}
}

// packet converts the raw packet; its Data aliases FFmpeg memory until Unref.
func (d *demuxer) packet() Packet {
	p := d.ts.convert(int64(d.raw.pts), int64(d.raw.dts), int64(d.raw.duration))
	if end := p.PTS + p.Duration; end > d.res.End {
		d.res.End = end
	}
	p.Data = packetData(d.raw)
	p.Key = d.raw.flags&C.AV_PKT_FLAG_KEY != 0
	p.Discard = d.raw.flags&C.AV_PKT_FLAG_DISCARD != 0
	if d.res.Packets == 0 {
		info := d.info
		p.Info = &info
	}
	return p
}

func (d *demuxer) closeInput() {
	d.dog.stop()
	d.fc.CloseInput() // frees the context too
	// FFmpeg polled the interrupt flag through a pointer into the callback object until now.
	runtime.KeepAlive(d.dog)
	d.freeDict()
}

func (d *demuxer) freeDict() {
	if d.dict != nil {
		d.dict.Free()
		d.dict = nil
	}
}

func (d *demuxer) close() {
	if d.pkt != nil {
		d.pkt.Free()
	}
	d.closeInput()
}

// yielder keeps a goroutine that lives in cgo calls (demux, decode, convert) visible to the
// scheduler. Such a goroutine never reschedules by itself, so once it has held its P for 10 ms
// the runtime's monitor takes the P away in the middle of a call to preempt it and hands it to
// another thread, then again at each of its polls (every 20 µs) until the goroutine
// reschedules: hundreds of thread switches a second, which cost a decode-only pass more CPU than
// converting its sampled frames. Yielding at most every few milliseconds moves the scheduler's
// tick before that, for one switch or none.
type yielder struct{ last time.Time }

const yieldEvery = 4 * time.Millisecond

func (y *yielder) maybe() {
	if now := time.Now(); now.Sub(y.last) >= yieldEvery {
		y.last = now
		runtime.Gosched()
	}
}
