package media

import "errors"

var (
	// ErrUnsupportedCodec: FFmpeg has no decoder for the stream, or it failed to open.
	ErrUnsupportedCodec = errors.New("unsupported codec")
	// ErrNoVideo: the input has no video stream.
	ErrNoVideo = errors.New("no video stream")
	// ErrUnknownFormat: DemuxConfig.Format names no FFmpeg input format.
	ErrUnknownFormat = errors.New("unknown input format")
	// ErrOpen: the input could not be opened or probed (retryable).
	ErrOpen = errors.New("open input")
	// ErrRead: reading from the input failed (retryable).
	ErrRead = errors.New("read input")
	// ErrStalled: nothing arrived within the open or stall timeout.
	ErrStalled = errors.New("source stalled")
	// ErrScale: a frame could not be scaled.
	ErrScale = errors.New("scale frame")
	// ErrScaleRect: the frame's pixel format cannot be scaled in part (convert it whole).
	ErrScaleRect = errors.New("scale part of a frame: pixel format not supported")
	// ErrHWUnsupported: the codec has no CUDA hwaccel in this FFmpeg (decode in software).
	ErrHWUnsupported = errors.New("no hardware decoding for this codec")
	// ErrNoHWDevice: no CUDA device could be opened (no GPU, no driver).
	ErrNoHWDevice = errors.New("no hardware decoding device")
	// ErrNoMemory: FFmpeg could not allocate.
	ErrNoMemory = errors.New("out of memory")
)

// Permanent reports whether err will fail again if retried: no video, an unsupported codec,
// an unknown input format.
func Permanent(err error) bool {
	return errors.Is(err, ErrNoVideo) || errors.Is(err, ErrUnsupportedCodec) || errors.Is(err, ErrUnknownFormat)
}
