package pipeline

import "errors"

var (
	// ErrDuplicateStream: two streams with one id.
	ErrDuplicateStream = errors.New("duplicate stream id")
	// ErrNotRunning: a stream was attached outside Run.
	ErrNotRunning = errors.New("pipeline not running")
	// ErrNoStream: no stream has this id.
	ErrNoStream = errors.New("no such stream")
	// ErrStreamFailed: an input stopped on an error that retrying cannot fix, or failed every
	// try it was given (one-shot). The message reads "<input> cannot be read: <why>".
	ErrStreamFailed = errors.New("cannot be read")
	// ErrNotVideo: a one-shot input was read but is no video: no frame, or one (a still image).
	ErrNotVideo = errors.New("is not a video stream")
	// ErrNoClip: a one-shot input decoded frames but yielded no clip (too short, or every clip
	// broken by gaps or backward frame times).
	ErrNoClip = errors.New("yielded no clip")
	// ErrRemoteRoI: an RoI detection model was configured with a remote inference server; its
	// boxes come from a person detector in this process, so it runs in process.
	ErrRemoteRoI = errors.New("an RoI detection model runs in process (its person detector is local); unset infer.remote.url")
)
