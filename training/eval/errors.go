package eval

import "errors"

// Sentinel errors; wrapped messages carry the detail.
var (
	// ErrOptions: an option cannot make an evaluation.
	ErrOptions = errors.New("eval: bad options")
	// ErrNoVideos: no video of the chosen splits gave a clip.
	ErrNoVideos = errors.New("eval: no video to evaluate")
)
