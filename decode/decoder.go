// Package decode turns encoded packets into the few frames the clipper samples: FFmpeg (through
// go-astiav) decodes every frame, the Sampler says which ones it wants, and only those are
// converted: the part of the frame the centre crop covers (after resizing the short side to
// ResizeShortSide) is resampled straight to Size×Size and converted to normalized planar
// float32 in a preallocated ring slot. The whole resized picture is made only when a thumbnail
// is asked for (from a reference to the latest sampled frame), with that crop pasted in. The
// FFmpeg calls themselves live in package media.
package decode

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/media"
)

// Sampler decides which decoded frames become clip samples. *clipper.Clipper satisfies it.
type Sampler interface {
	// Want is called for every decoded frame in PTS order; true means convert it and call Add.
	Want(pts time.Duration) bool
	// Add takes a converted frame (it copies the pixels) and returns the clips it completed,
	// valid until the next call.
	Add(f *clipper.Frame) []*clipper.Clip
}

// Skipper is a Sampler that can tell, before a frame is decoded, that the frame cannot be
// wanted (*clipper.Clipper does). With one, the decoder lets FFmpeg leave such frames
// undecoded when nothing references them (B-frames that are not references, disposable
// P-frames: about half the frames of an x264 file), and still offers their times through Want,
// in order, as if they had been decoded.
type Skipper interface {
	Skippable(pts time.Duration) bool
}

// Config configures a Decoder.
type Config struct {
	Stream string // for logs
	// Size is the model's crop S; ResizeShortSide the short side before the centre crop
	// (0 = Size). Mean and Std normalize x/255 per RGB channel (zero Std = 1).
	Size, ResizeShortSide int
	Mean, Std             [3]float32
	// MaxWidth×MaxHeight caps the stream resolution (either orientation); 0 = DefaultLimits.
	MaxWidth, MaxHeight int
	// Threads is FFmpeg's decoder thread count (0 = 1: one thread per stream scales best with
	// many streams and adds no frame delay).
	Threads int
	// HWAccel "cuda" decodes on the GPU (Limits.HWAccel); "" or "none" in software.
	// HWDevice picks the CUDA device ("" = the first).
	HWAccel, HWDevice string
	// RingSlots is the number of preallocated conversion slots (0 = 2, the minimum).
	RingSlots int
	Logger    *slog.Logger
}

// Stats are a decoder's counters since it was created.
type Stats struct {
	Codec           string
	HWAccel         string // "cuda" while the codec decodes on the GPU, "" in software
	Width, Height   int
	FramesDecoded   int64 // every frame FFmpeg returned
	FramesSkipped   int64 // non-reference frames left undecoded because no clip sample needed them
	FramesConverted int64 // frames the Sampler wanted, resized and converted
	DecodeErrors    int64 // packets or frames FFmpeg rejected (skipped)
	CorruptFrames   int64 // frames returned with concealed errors
	PacketsSkipped  int64 // packets before any codec information
	// BackwardSteps counts decoded frames whose FFmpeg time was earlier than the previous
	// frame's; Repairs counts frames timed by the frame rate instead (see Decoder.frameTime).
	BackwardSteps, Repairs int64
	FPS                    float64 // decoded frames per wall-clock second over the last second or so
}

// Decoder decodes one stream. Decode, Flush and Close must be called from one goroutine at a
// time; Stats and the thumbnail methods are safe from any goroutine.
type Decoder struct {
	cfg     Config
	sampler Sampler
	skipper Skipper // the sampler, when it can tell unwanted frames ahead; nil: decode every frame
	out     func(*clipper.Clip)
	log     *slog.Logger

	codec *ingest.CodecInfo
	ff    *media.Decoder
	ring  *ring
	lut   [3][256]float32

	srcW, srcH, rw, rh, x0, y0 int
	// rect is the source part the crop covers; whole: this stream's pixel format cannot be
	// scaled in part (media.ErrScaleRect), so every sampled frame is resized whole and cropped.
	rect  media.Rect
	whole bool
	// alwaysWhole keeps whole on across codec opens: the reference conversion the tests
	// compare the crop-only one with.
	alwaysWhole bool

	// Timing state of frameTime, reset when a codec opens.
	lastPTS, lastRaw, lastStep time.Duration
	shift                      time.Duration // added to FFmpeg's times after untimed leading frames
	timed, haveRaw, counted    bool
	warned                     bool
	hwChecked                  bool // checkHWFallback ran since the codec opened
	// bestEffort's state, as libavcodec keeps it for guess_correct_pts.
	lastInPTS, lastInDTS int64
	seenPTS, seenDTS     bool
	faultyPTS, faultyDTS int
	// skips are the (frameTime) times of the packets sent with skipNonRef whose frame has
	// not come out yet, ascending: a frame that comes out at one of them was decoded after
	// all (a reference frame); one that never does was skipped.
	skips []time.Duration

	frames, converted, errors, corrupt, skipped, backward, repairs atomic.Int64
	framesSkipped                                                  atomic.Int64
	fpsBits                                                        atomic.Uint64
	fpsFirst                                                       time.Duration // stream time of the fps window's first frame
	fpsCount                                                       int64
	errLogAt                                                       time.Time // last periodic error report
	errLogged                                                      int64     // errors+corrupt at that report

	mu            sync.Mutex // guards the fields below, read by Stats
	codecName     string
	width, height int
	hwaccel       string

	closed bool
}

// New returns a Decoder that feeds s and hands every completed clip to out (called on the
// decoding goroutine; it owns the clip and must Release it).
func New(cfg Config, s Sampler, out func(*clipper.Clip)) (*Decoder, error) {
	if cfg.Size <= 0 {
		return nil, fmt.Errorf("%w: size %d", ErrConfig, cfg.Size)
	}
	if cfg.ResizeShortSide == 0 {
		cfg.ResizeShortSide = cfg.Size
	}
	if cfg.ResizeShortSide < cfg.Size {
		return nil, fmt.Errorf("%w: resize_short_side %d < size %d", ErrConfig, cfg.ResizeShortSide, cfg.Size)
	}
	if cfg.MaxWidth <= 0 {
		cfg.MaxWidth = DefaultLimits().MaxWidth
	}
	if cfg.MaxHeight <= 0 {
		cfg.MaxHeight = DefaultLimits().MaxHeight
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.RingSlots < 2 {
		cfg.RingSlots = 2
	}
	if s == nil {
		return nil, fmt.Errorf("%w: nil sampler", ErrConfig)
	}
	if out == nil {
		out = func(c *clipper.Clip) { c.Release() }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ff, err := media.NewDecoder()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	d := &Decoder{ff: ff,
		cfg: cfg, sampler: s, out: out,
		log:  cfg.Logger.With("component", "decode", "stream", cfg.Stream),
		ring: newRing(cfg.RingSlots, cfg.Size),
	}
	d.ring.scaleHeld = ff.ScaleHeld
	d.skipper, _ = s.(Skipper)
	for c := 0; c < 3; c++ {
		std := cfg.Std[c]
		if std == 0 {
			std = 1
		}
		for v := 0; v < 256; v++ {
			d.lut[c][v] = (float32(v)/255 - cfg.Mean[c]) / std
		}
	}
	return d, nil
}

func (d *Decoder) fits(w, h int) bool {
	return (w <= d.cfg.MaxWidth && h <= d.cfg.MaxHeight) || (h <= d.cfg.MaxWidth && w <= d.cfg.MaxHeight)
}

func (d *Decoder) tooLarge(w, h int) error {
	return fmt.Errorf("stream %q is %dx%d, cap is %dx%d: %w", d.cfg.Stream, w, h, d.cfg.MaxWidth, d.cfg.MaxHeight, ErrTooLarge)
}

func (d *Decoder) open(ci *ingest.CodecInfo) error {
	if !d.fits(ci.Width, ci.Height) {
		return d.tooLarge(ci.Width, ci.Height)
	}
	info := media.StreamInfo{Codec: ci.Codec, Extradata: ci.Extradata, Width: ci.Width, Height: ci.Height,
		FrameDuration: ci.FrameDuration}
	var err error
	if d.openHW(info); !d.ff.IsOpen() {
		err = d.ff.Open(info, d.cfg.Threads)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnsupportedCodec, err)
	}
	c := *ci
	c.Extradata = append([]byte(nil), ci.Extradata...)
	d.codec = &c
	d.srcW, d.srcH, d.whole = 0, 0, d.alwaysWhole
	d.timed, d.haveRaw, d.counted, d.lastStep = false, false, false, 0
	d.seenPTS, d.seenDTS, d.faultyPTS, d.faultyDTS = false, false, 0, 0
	d.mu.Lock()
	d.codecName, d.width, d.height, d.hwaccel = ci.Codec, ci.Width, ci.Height, d.ff.HWAccel()
	d.mu.Unlock()
	d.log.Debug("decoder opened", "codec", ci.Codec, "width", ci.Width, "height", ci.Height, "threads", d.cfg.Threads)
	return nil
}

// openHW opens the codec on the GPU when the config asks for it. A device or codec NVDEC
// cannot take leaves the codec closed with a warning, for open to use software: per
// stream, so one camera's unusual codec does not stop the others' hardware decoding.
func (d *Decoder) openHW(info media.StreamInfo) {
	d.hwChecked = false
	if d.cfg.HWAccel != HWAccelCUDA {
		return
	}
	if err := d.ff.OpenCUDA(info, d.cfg.HWDevice); err != nil {
		d.log.Warn("hardware decoding unavailable, decoding in software", "hwaccel", d.cfg.HWAccel, "codec", info.Codec, "reason", err)
	}
}

// checkHWFallback warns once per codec open when NVDEC refused the stream's format at
// its first frame (FFmpeg then decodes in software).
func (d *Decoder) checkHWFallback() {
	if d.hwChecked || d.cfg.HWAccel != HWAccelCUDA {
		return
	}
	d.hwChecked = true
	if d.ff.SoftwareFallback() {
		d.log.Warn("hardware decoding unavailable for this stream's format, decoding in software", "hwaccel", d.cfg.HWAccel, "codec", d.codecName)
	}
	d.mu.Lock()
	d.hwaccel = d.ff.HWAccel()
	d.mu.Unlock()
}

// Decode decodes one packet and processes every frame it completes. Broken bitstream errors are
// counted and skipped; the only errors returned are fatal to the stream: a codec FFmpeg cannot
// open (ErrUnsupportedCodec) or a resolution over the cap (ErrTooLarge), both wrapping
// ingest.ErrPermanent, or ErrClosed.
func (d *Decoder) Decode(p ingest.Packet) error {
	if d.closed {
		return ErrClosed
	}
	if p.Codec != nil && !p.Codec.Equal(d.codec) {
		if d.ff.IsOpen() {
			if err := d.drain(); err != nil {
				return err
			}
			d.ff.CloseCodec()
		}
		if err := d.open(p.Codec); err != nil {
			d.codec = nil
			return err
		}
	}
	if !d.ff.IsOpen() || len(p.Data) == 0 {
		d.skipped.Add(1)
		return nil
	}
	pts, dts := int64(p.PTS), media.NoTS
	if p.NoPTS {
		pts = media.NoTS
	}
	if p.HasDTS {
		dts = int64(p.DTS)
	}
	skip := d.skippable(p)
	st := d.ff.Send(p.Data, pts, dts, int64(p.Duration), p.Key, p.Discard, skip)
	if st == media.Again {
		// Cannot happen while every send is followed by a full receive; recover anyway.
		if err := d.receive(p.PTS, p.Wall); err != nil {
			return err
		}
		st = d.ff.Send(p.Data, pts, dts, int64(p.Duration), p.Key, p.Discard, skip)
	}
	if st != media.OK {
		d.errors.Add(1)
	}
	return d.receive(p.PTS, p.Wall)
}

// Flush drains the frames FFmpeg still holds (reordering, frame threads) at the end of input and
// resets the decoder so decoding can continue from the next keyframe.
func (d *Decoder) Flush() error {
	if d.closed {
		return ErrClosed
	}
	if !d.ff.IsOpen() {
		return nil
	}
	return d.drain()
}

func (d *Decoder) drain() error {
	d.ff.SendEOF()
	err := d.receive(d.lastPTS, time.Time{})
	d.ff.FlushBuffers()
	d.passSkipped(time.Duration(math.MaxInt64))
	return err
}

// maxSkips bounds the frames awaiting their turn in skips (a few per B-frame group).
const maxSkips = 32

// skipCodecs are the codecs whose packets hold one frame each and whose decoders honour a
// per-packet skip_frame (MPEG-4 part 2 is left out: a packed B-frame shares its packet).
var skipCodecs = map[string]bool{"h264": true, "hevc": true}

// skipAfter is how many frames must have come out before any is skipped: enough for a stream
// whose pts are its dts (VLC's MP4s with B-frames) to have shown a reordered frame, after
// which bestEffort no longer trusts the pts.
const skipAfter = 24

// skippable decides whether p's frame may be left undecoded: only while frames are timed by
// FFmpeg's own packet pts (so the frame's time is known before decoding) and the sampler
// says no sample can want a frame at that time. The time is queued in skips.
func (d *Decoder) skippable(p ingest.Packet) bool {
	if d.skipper == nil || d.codec == nil || !skipCodecs[d.codec.Codec] || p.NoPTS || p.Key || !d.haveRaw || d.counted ||
		d.faultyPTS > 0 || d.frames.Load() < skipAfter || len(d.skips) >= maxSkips {
		return false
	}
	at := p.PTS + d.shift
	if at < d.lastPTS || !d.skipper.Skippable(at) {
		return false
	}
	i, _ := slices.BinarySearch(d.skips, at)
	d.skips = slices.Insert(d.skips, i, at)
	return true
}

// passSkipped offers the sampler, in time order, every skipped frame timed before pts (the
// next frame out): what it would have seen had they been decoded. A queued time equal to pts
// is that frame's own: it was decoded after all.
func (d *Decoder) passSkipped(pts time.Duration) {
	n := 0
	for ; n < len(d.skips) && d.skips[n] <= pts; n++ {
		at := d.skips[n]
		if at == pts {
			continue
		}
		d.framesSkipped.Add(1)
		d.tickFPS(at)
		d.sampler.Want(at) // false: it was before every sample target when it was skipped
	}
	d.skips = d.skips[:copy(d.skips, d.skips[n:])]
}

func (d *Decoder) receive(pktPTS time.Duration, pktWall time.Time) error {
	for {
		f, st := d.ff.Receive()
		if st == media.Again || st == media.EOF {
			return nil
		}
		if st != media.OK {
			d.errors.Add(1)
			return nil
		}
		d.checkHWFallback()
		d.frames.Add(1)
		if f.Corrupt {
			d.corrupt.Add(1)
		}
		w, h := f.Width, f.Height
		if w != d.srcW || h != d.srcH {
			if !d.fits(w, h) {
				return d.tooLarge(w, h)
			}
			d.geometry(w, h)
		}
		pts, raw := d.frameTime(d.bestEffort(f.PTS, f.DTS))
		d.passSkipped(pts)
		d.tickFPS(pts)
		if d.sampler.Want(pts) {
			wall := pktWall
			if wall.IsZero() {
				wall = time.Now()
			} else {
				wall = wall.Add(raw - pktPTS)
			}
			d.convert(pts, wall)
		}
	}
}

// bestEffort is FFmpeg's best_effort_timestamp rule (libavcodec's guess_correct_pts): of the
// frame's pts and its packet's dts, use whichever has gone non-increasing less often so far,
// the pts on a tie. FFmpeg falls back to the other when the chosen one is missing; here a stream
// that has shown dts and trusts them, and meets a frame without one (the frames a drained
// decoder still holds) gets "missing", so frameTime counts it on rather than taking the pts the stream already proved
// wrong (a pts = dts container with B-frames).
func (d *Decoder) bestEffort(pts, dts int64) int64 {
	if dts != media.NoTS {
		if d.seenDTS && dts <= d.lastInDTS {
			d.faultyDTS++
		}
		d.lastInDTS, d.seenDTS = dts, true
	}
	if pts != media.NoTS {
		if d.seenPTS && pts <= d.lastInPTS {
			d.faultyPTS++
		}
		d.lastInPTS, d.seenPTS = pts, true
	}
	usePTS := d.faultyPTS <= d.faultyDTS
	switch {
	case usePTS && pts != media.NoTS:
		return pts
	case !usePTS && dts != media.NoTS:
		return dts
	case !usePTS && d.seenDTS:
		return media.NoTS
	case pts != media.NoTS:
		return pts // no dts ever: FFmpeg's fallback
	}
	return dts // pts missing: FFmpeg's fallback (media.NoTS when both are)
}

// frameTime is the one timestamp rule (docs/EVENTS.md, "Frame times"). A frame is timed by
// bestEffort, which sees both packet timestamps, as long as those times run forward:
//   - A frame without a time follows the previous frame by one frame duration
//     (CodecInfo.FrameDuration, else the last forward step, else 40 ms). Frames before the
//     first known time start at 0 and the known times are shifted to continue from them (an
//     RTSP stream's first packet has no time; a raw elementary stream has none at all).
//   - The first time FFmpeg's times go backwards (or stop moving forward after a filled-in
//     frame), the stream switches, while this codec stays open, to counted times: every later
//     frame follows the previous one by the frame duration. This is logged once per stream.
//
// Every frame not timed by FFmpeg is a repair; every backward step of FFmpeg's own times is
// counted too (before repair). It returns the time to use and FFmpeg's own (raw) time, which
// the wall clock estimate follows.
func (d *Decoder) frameTime(ts int64) (pts, raw time.Duration) {
	raw = time.Duration(ts)
	missing := ts == media.NoTS
	if !missing {
		if !d.haveRaw {
			d.haveRaw, d.shift = true, 0
			if d.timed {
				d.shift = d.lastPTS + d.step() - raw
			}
		} else if raw < d.lastRaw {
			d.backward.Add(1)
			d.switchToCounted(raw)
		} else if raw > d.lastRaw && !d.counted {
			d.lastStep = raw - d.lastRaw
		}
		d.lastRaw = raw
		if !d.counted && d.timed && raw+d.shift < d.lastPTS {
			d.switchToCounted(raw)
		}
	}
	switch {
	case !d.timed && missing:
		pts = d.lastPTS // 0, or where the previous codec's frames ended
		if d.frames.Load() > 1 {
			pts += d.step()
		}
		d.repairs.Add(1)
	case missing || d.counted:
		pts = d.lastPTS + d.step()
		d.repairs.Add(1)
	default:
		pts = raw + d.shift
	}
	if missing {
		raw = pts
	}
	d.timed = true
	d.lastPTS = pts
	return pts, raw
}

func (d *Decoder) switchToCounted(raw time.Duration) {
	if d.counted {
		return
	}
	d.counted = true
	if !d.warned {
		d.warned = true
		d.log.Warn("decoded timestamps go backwards; timing frames by the frame rate from here",
			"frame_duration", d.step(), "time", raw, "previous", d.lastRaw)
	}
}

// step is the frame duration counted times advance by.
func (d *Decoder) step() time.Duration {
	switch {
	case d.codec != nil && d.codec.FrameDuration > 0:
		return d.codec.FrameDuration
	case d.lastStep > 0:
		return d.lastStep
	}
	return 40 * time.Millisecond
}

// tickFPS counts a frame at stream time pts. The rate is frames per second of stream time over
// windows of at least one second of it, so a burst (the frames a camera sends on reconnecting,
// or a file read unpaced) reads as the stream's own rate, not the rate frames arrived at.
func (d *Decoder) tickFPS(pts time.Duration) {
	if d.fpsCount == 0 || pts < d.fpsFirst {
		d.fpsFirst, d.fpsCount = pts, 0
	}
	d.fpsCount++
	if span := pts - d.fpsFirst; span >= time.Second {
		d.fpsBits.Store(math.Float64bits(float64(d.fpsCount-1) / span.Seconds()))
		d.fpsFirst, d.fpsCount = pts, 1
	}
	if d.fpsCount&7 == 0 {
		d.reportErrors(time.Now())
	}
}

// NewTimeline starts a new connection's timeline (the supervisor reconnected the source): the
// frames FFmpeg still holds from the old one are dropped, the timing rule starts afresh — the
// new times continue one frame after the last one, so a camera that restarts its clock at 0 is
// not a backward step — and the fps window restarts. Call it on the decoding goroutine.
func (d *Decoder) NewTimeline() {
	if d.closed {
		return
	}
	if d.ff.IsOpen() {
		d.ff.FlushBuffers()
	}
	d.haveRaw, d.counted = false, false
	d.seenPTS, d.seenDTS, d.faultyPTS, d.faultyDTS = false, false, 0, 0
	d.skips = d.skips[:0] // the old connection's frames: flushed with the rest
	d.fpsCount = 0
}

// reportErrors logs bitstream error totals at most every errorReportEvery, never per frame.
func (d *Decoder) reportErrors(now time.Time) {
	total := d.errors.Load() + d.corrupt.Load()
	if total == d.errLogged || now.Sub(d.errLogAt) < errorReportEvery {
		return
	}
	d.log.Warn("bitstream errors", "new", total-d.errLogged, "decode_errors", d.errors.Load(),
		"corrupt_frames", d.corrupt.Load(), "frames", d.frames.Load())
	d.errLogAt, d.errLogged = now, total
}

const errorReportEvery = 10 * time.Second

// geometry computes the resize (short side to ResizeShortSide) and centre-crop window.
func (d *Decoder) geometry(w, h int) {
	short, r := min(w, h), d.cfg.ResizeShortSide
	d.rw = max((w*r+short/2)/short, d.cfg.Size)
	d.rh = max((h*r+short/2)/short, d.cfg.Size)
	d.x0 = (d.rw - d.cfg.Size) / 2
	d.y0 = (d.rh - d.cfg.Size) / 2
	d.rect = cropSource(w, h, d.rw, d.rh, d.x0, d.y0, d.cfg.Size)
	d.srcW, d.srcH = w, h
	d.mu.Lock()
	d.width, d.height = w, h
	d.mu.Unlock()
}

// cropSource is the part of a w×h frame that the size×size crop at (x0, y0) of its rw×rh
// resize covers: the same mapping of pixel centres, rounded to whole source pixels (the
// scaler then moves the origin onto whole chroma samples: even ones for 4:2:0), so it
// differs from resizing whole and cropping by at most a pixel of the source.
func cropSource(w, h, rw, rh, x0, y0, size int) media.Rect {
	side := func(n, rn, o int) (int, int) {
		scale := float64(n) / float64(rn)
		length := min(max(int(math.Round(float64(size)*scale)), 1), n)
		// Centred on the crop's centre, so the rounding of length shifts both ends alike.
		start := int(math.Round((float64(o)+float64(size)/2)*scale - float64(length)/2))
		return min(max(start, 0), n-length), length
	}
	x, cw := side(w, rw, x0)
	y, ch := side(h, rh, y0)
	return media.Rect{X: x, Y: y, W: cw, H: ch}
}

// convert resamples a sampled frame's crop into the next ring slot, normalizes it and hands
// it to the Sampler; the frame itself is held for a thumbnail.
func (d *Decoder) convert(pts time.Duration, wall time.Time) {
	size := d.cfg.Size
	var s *slot
	if !d.whole {
		if s = d.ring.next(size, size); s == nil {
			d.errors.Add(1)
			return
		}
		switch done, err := d.ff.ScaleRect(s.rgb, s.stride, size, size, d.rect, s.frame.Pixels, &d.lut); {
		case errors.Is(err, media.ErrScaleRect):
			d.whole = true
			d.log.Debug("pixel format cannot be scaled in part: resizing sampled frames whole")
		case err != nil:
			d.errors.Add(1)
			return
		case done:
			d.publish(s, pts, wall)
			return
		}
	}
	x0, y0 := 0, 0
	if d.whole {
		if s = d.ring.next(d.rw, d.rh); s == nil || d.ff.Scale(s.rgb, s.stride, d.rw, d.rh) != nil {
			d.errors.Add(1)
			return
		}
		x0, y0 = d.x0, d.y0
	}
	plane := size * size
	px := s.frame.Pixels
	lr, lg, lb := &d.lut[0], &d.lut[1], &d.lut[2]
	for y := 0; y < size; y++ {
		off := (y+y0)*s.stride + 3*x0
		row := s.rgb[off : off+3*size]
		o := y * size
		pr, pg, pb := px[o:o+size], px[plane+o:plane+o+size], px[2*plane+o:2*plane+o+size]
		for x := range size {
			pix := row[3*x : 3*x+3]
			pr[x], pg[x], pb[x] = lr[pix[0]], lg[pix[1]], lb[pix[2]]
		}
	}
	d.publish(s, pts, wall)
}

// publish hands the converted slot s to the ring (the thumbnail's frame held with it) and
// the sampler, and delivers the clips it completes.
func (d *Decoder) publish(s *slot, pts time.Duration, wall time.Time) {
	s.frame.PTS, s.frame.Wall = pts, wall
	s.frame.SourceWidth, s.frame.SourceHeight = d.srcW, d.srcH
	s.whole, s.picW, s.picH, s.cropX, s.cropY = d.whole, d.rw, d.rh, d.x0, d.y0
	var hold func() error
	if !d.whole {
		hold = d.ff.Hold
	}
	if d.ring.publish(s, hold) != nil {
		d.errors.Add(1)
		return
	}
	d.converted.Add(1)
	for _, c := range d.sampler.Add(&s.frame) {
		d.out(c)
	}
}

// Stats returns the counters so far.
func (d *Decoder) Stats() Stats {
	d.mu.Lock()
	st := Stats{Codec: d.codecName, Width: d.width, Height: d.height, HWAccel: d.hwaccel}
	d.mu.Unlock()
	st.FramesDecoded = d.frames.Load()
	st.FramesSkipped = d.framesSkipped.Load()
	st.FramesConverted = d.converted.Load()
	st.DecodeErrors = d.errors.Load()
	st.CorruptFrames = d.corrupt.Load()
	st.PacketsSkipped = d.skipped.Load()
	st.BackwardSteps = d.backward.Load()
	st.Repairs = d.repairs.Load()
	st.FPS = math.Float64frombits(d.fpsBits.Load())
	return st
}

// Close frees the FFmpeg state and the ring. Idempotent; thumbnails return ErrNoFrame after.
func (d *Decoder) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	d.ring.close() // first: no thumbnail reads the held frame after this
	d.ff.Close()
	return nil
}
