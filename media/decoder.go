package media

/*
#include "ffhelpers.h"
static void as_set_pkt_timebase_ns(AVCodecContext *c) { c->pkt_timebase = (AVRational){1, 1000000000}; }
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// Status is the outcome of a Decoder call that FFmpeg may refuse without it being an error.
type Status int

const (
	OK     Status = iota
	Again         // send: the decoder wants its frames received first; receive: it wants a packet
	EOF           // receive: the drained decoder has no more frames
	Failed        // FFmpeg rejected the packet or frame (a broken bitstream; count and go on)
)

// Frame describes the frame the last successful Receive returned; its pixels stay in the
// Decoder for Scale.
type Frame struct {
	// PTS is the frame's own timestamp and DTS the one of the packet that completed it, in
	// nanoseconds, NoTS when unknown.
	PTS, DTS      int64
	Width, Height int
	// Corrupt: FFmpeg concealed errors in this frame.
	Corrupt bool
}

// Decoder is one FFmpeg video decoder plus a scaler to packed RGB24. Timestamps go in and come
// out in nanoseconds. Not safe for concurrent use.
type Decoder struct {
	cc     *astiav.CodecContext
	rcc    *C.AVCodecContext
	pkt    *astiav.Packet
	rpkt   *C.AVPacket
	frame  *astiav.Frame
	rframe *C.AVFrame
	info   *C.as_frame_info
	sws    *C.as_scaler // Scale's: the whole frame
	rsws   *C.as_scaler // ScaleRect's, so alternating calls keep both scalers
	held   *C.AVFrame   // Hold's reference to a received frame, for ScaleHeld
	hsws   *C.as_scaler // ScaleHeld's
	hw     *hwState     // set by OpenCUDA
}

// NewDecoder allocates the packet, frame and scaler state; Open opens a codec.
func NewDecoder() (*Decoder, error) {
	QuietFFmpeg()
	d := &Decoder{pkt: astiav.AllocPacket(), frame: astiav.AllocFrame(), info: C.as_info_alloc(), sws: C.as_scaler_alloc(), rsws: C.as_scaler_alloc(),
		held: C.av_frame_alloc(), hsws: C.as_scaler_alloc()}
	if d.pkt == nil || d.frame == nil || d.info == nil || d.sws == nil || d.rsws == nil || d.held == nil || d.hsws == nil {
		d.Close()
		return nil, ErrNoMemory
	}
	d.rpkt, d.rframe = rawPacket(d.pkt), rawFrame(d.frame)
	return d, nil
}

// Open opens the named FFmpeg decoder (closing any open one) with threads decoding threads.
// Errors wrap ErrUnsupportedCodec.
func (d *Decoder) Open(info StreamInfo, threads int) error {
	d.CloseCodec()
	codec := astiav.FindDecoderByName(info.Codec)
	if codec == nil {
		return fmt.Errorf("no FFmpeg decoder named %q: %w", info.Codec, ErrUnsupportedCodec)
	}
	return d.open(codec, info, threads, nil)
}

// open allocates and opens codec's context; setup (if any) runs just before opening.
func (d *Decoder) open(codec *astiav.Codec, info StreamInfo, threads int, setup func(*astiav.CodecContext)) error {
	cc := astiav.AllocCodecContext(codec)
	if cc == nil {
		return fmt.Errorf("allocating %s decoder: %w", info.Codec, ErrUnsupportedCodec)
	}
	if len(info.Extradata) > 0 {
		if err := cc.SetExtraData(info.Extradata); err != nil {
			cc.Free()
			return fmt.Errorf("%s extradata: %v: %w", info.Codec, err, ErrUnsupportedCodec)
		}
	}
	cc.SetWidth(info.Width)
	cc.SetHeight(info.Height)
	cc.SetThreadCount(threads)
	C.as_set_pkt_timebase_ns(rawCodecContext(cc))
	if setup != nil {
		setup(cc)
	}
	if err := cc.Open(codec, nil); err != nil {
		cc.SetPixelFormatCallback(nil)
		cc.Free()
		return fmt.Errorf("opening %s decoder: %v: %w", info.Codec, err, ErrUnsupportedCodec)
	}
	d.cc, d.rcc = cc, rawCodecContext(cc)
	return nil
}

// IsOpen reports whether a codec is open.
func (d *Decoder) IsOpen() bool { return d.cc != nil }

// CloseCodec closes the open codec, if any.
func (d *Decoder) CloseCodec() {
	d.closeHW()
	if d.cc != nil {
		d.cc.Free()
		d.cc, d.rcc = nil, nil
	}
}

// Send hands one packet (copied) with both timestamps (NoTS where unknown) to the decoder.
// skipNonRef: its frame may be left undecoded (no frame comes out for it) when it is not a
// reference frame; a reference frame is decoded as usual.
func (d *Decoder) Send(data []byte, pts, dts, dur int64, key, discard, skipNonRef bool) Status {
	if len(data) == 0 {
		return Failed
	}
	flags, skip := C.int(0), C.int(0)
	if skipNonRef {
		skip = 1
	}
	if key {
		flags |= C.AV_PKT_FLAG_KEY
	}
	if discard {
		flags |= C.AV_PKT_FLAG_DISCARD
	}
	return status(int(C.as_send(d.rcc, d.rpkt, (*C.uint8_t)(unsafe.Pointer(&data[0])), C.int(len(data)),
		C.int64_t(pts), C.int64_t(dts), C.int64_t(dur), flags, skip)))
}

// SendEOF puts the decoder into draining mode: Receive returns the frames it still holds.
func (d *Decoder) SendEOF() { C.as_send(d.rcc, d.rpkt, nil, 0, 0, 0, 0, 0, 0) }

// Receive takes the next decoded frame: OK with its description, or Again, EOF or Failed.
func (d *Decoder) Receive() (Frame, Status) {
	if st := status(int(C.as_receive(d.rcc, d.rframe, d.info))); st != OK {
		return Frame{}, st
	}
	if d.hw != nil {
		d.hw.downloaded = false
	}
	return Frame{PTS: int64(d.info.pts), DTS: int64(d.info.dts), Width: int(d.info.width), Height: int(d.info.height),
		Corrupt: d.info.corrupt != 0}, OK
}

// FlushBuffers resets the decoder so decoding can resume from the next keyframe.
func (d *Decoder) FlushBuffers() {
	if d.rcc != nil {
		C.avcodec_flush_buffers(d.rcc)
	}
}

// Scale converts the last received frame into packed RGB24 of w×h at dst (rows stride bytes
// apart; memory from AllocBuffer), reusing the scaler while the geometry stays.
func (d *Decoder) Scale(dst []byte, stride, w, h int) error {
	if len(dst) < stride*h || stride < 3*w {
		return fmt.Errorf("%w: %d bytes for %dx%d at stride %d", ErrScale, len(dst), w, h, stride)
	}
	src, err := d.scaleSource()
	if err != nil {
		return err
	}
	if C.as_scale(d.sws, src, (*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(stride), C.int(w), C.int(h)) < 0 {
		return ErrScale
	}
	return nil
}

// Rect is a rectangle of a frame, in pixels.
type Rect struct{ X, Y, W, H int }

// ScaleRect is Scale of the part r of the last received frame: only r is read and resampled
// to w×h (r.X and r.Y move to the nearest whole chroma sample: even for 4:2:0). A pixel format
// whose planes cannot be offset to r gives ErrScaleRect; Scale then converts it.
//
// With planes (and lut), the same pass may also write the model's normalized planes:
// lut[c][v] for every channel c and 8-bit value v of the result, 3 planes of w×h. It does for
// limited-range YUV (planesDone); for other formats the caller converts the RGB bytes.
func (d *Decoder) ScaleRect(dst []byte, stride, w, h int, r Rect, planes []float32, lut *[3][256]float32) (planesDone bool, err error) {
	if planes != nil && (len(planes) < 3*w*h || lut == nil) {
		return false, fmt.Errorf("%w: %d plane values for %dx%d", ErrScale, len(planes), w, h)
	}
	if len(dst) < stride*h || stride < 3*w {
		return false, fmt.Errorf("%w: %d bytes for %dx%d at stride %d", ErrScale, len(dst), w, h, stride)
	}
	src, err := d.scaleSource()
	if err != nil {
		return false, err
	}
	var cp, cl *C.float
	if planes != nil {
		cp, cl = (*C.float)(unsafe.Pointer(&planes[0])), (*C.float)(unsafe.Pointer(&lut[0][0]))
	}
	switch rc := C.as_scale_rect(d.rsws, src, C.int(r.X), C.int(r.Y), C.int(r.W), C.int(r.H),
		(*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(stride), C.int(w), C.int(h), cp, cl); {
	case rc == -C.ENOSYS:
		return false, ErrScaleRect
	case rc < 0:
		return false, fmt.Errorf("%w: rectangle %+v of a %dx%d frame", ErrScale, r, int(src.width), int(src.height))
	default:
		return rc == 1, nil
	}
}

// Hold keeps a reference to the last received frame (its download from the GPU, if any):
// no copy, the picture stays alive until the next Hold or Close, for ScaleHeld.
func (d *Decoder) Hold() error {
	src, err := d.scaleSource()
	if err != nil {
		return err
	}
	C.av_frame_unref(d.held)
	if C.av_frame_ref(d.held, src) < 0 {
		return ErrNoMemory
	}
	return nil
}

// ScaleHeld is Scale of the frame Hold kept, with a scaler of its own. It may run on another
// goroutine than decoding, but never at the same time as Hold or Close (the caller's lock).
func (d *Decoder) ScaleHeld(dst []byte, stride, w, h int) error {
	if len(dst) < stride*h || stride < 3*w {
		return fmt.Errorf("%w: %d bytes for %dx%d at stride %d", ErrScale, len(dst), w, h, stride)
	}
	if d.held == nil || d.held.buf[0] == nil {
		return fmt.Errorf("%w: no frame held", ErrScale)
	}
	if C.as_scale(d.hsws, d.held, (*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(stride), C.int(w), C.int(h)) < 0 {
		return ErrScale
	}
	return nil
}

// Close frees everything. Idempotent.
func (d *Decoder) Close() {
	d.CloseCodec()
	if d.frame != nil {
		d.frame.Free()
		d.frame, d.rframe = nil, nil
	}
	if d.pkt != nil {
		d.pkt.Free()
		d.pkt, d.rpkt = nil, nil
	}
	if d.info != nil {
		C.av_free(unsafe.Pointer(d.info))
		d.info = nil
	}
	if d.sws != nil {
		C.as_scaler_free(d.sws)
		d.sws = nil
	}
	if d.rsws != nil {
		C.as_scaler_free(d.rsws)
		d.rsws = nil
	}
	if d.hsws != nil {
		C.as_scaler_free(d.hsws)
		d.hsws = nil
	}
	if d.held != nil {
		C.av_frame_free(&d.held)
	}
}

func status(r int) Status {
	switch {
	case r >= 0:
		return OK
	case r == errAgain:
		return Again
	case r == errEOF:
		return EOF
	}
	return Failed
}

// swscaleRGB makes ScaleRect let swscale write RGB24 itself, as it does for formats other
// than limited-range YUV (the reference its own YUV conversion is tested against).
func (d *Decoder) swscaleRGB(on bool) {
	d.rsws.rgb_only = 0
	if on {
		d.rsws.rgb_only = 1
	}
}
