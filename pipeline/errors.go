package pipeline

import "errors"

var (
	// ErrDuplicateStream: two streams with one id.
	ErrDuplicateStream = errors.New("duplicate stream id")
	// ErrNotRunning: a stream was attached outside Run.
	ErrNotRunning = errors.New("pipeline not running")
	// ErrNoStream: no stream has this id.
	ErrNoStream = errors.New("no such stream")
	// ErrStreamFailed: a stream stopped on an error that retrying cannot fix.
	ErrStreamFailed = errors.New("stream failed")
)
