package synth

import "errors"

// Sentinel errors; wrapped messages carry the detail.
var (
	// ErrBadConfig: a Config value cannot make a dataset.
	ErrBadConfig = errors.New("synth: bad config")
	// ErrNoFFmpeg: the ffmpeg executable was not found.
	ErrNoFFmpeg = errors.New("synth: ffmpeg not found")
	// ErrEncode: ffmpeg failed to encode a video.
	ErrEncode = errors.New("synth: encoding failed")
)
