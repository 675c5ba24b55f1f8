package ingest

import "errors"

var (
	// ErrPermanent marks source errors that will not go away by retrying (missing file, bad URL,
	// unsupported codec, resolution over the cap). The Supervisor stops on them.
	ErrPermanent = errors.New("permanent source error")
	// ErrGaveUp: the Supervisor stopped retrying after SupervisorConfig.MaxAttempts failures.
	ErrGaveUp = errors.New("gave up")
	// ErrStalled means a live source delivered nothing for longer than its stall timeout.
	ErrStalled = errors.New("source stalled")
	// ErrBadStreamID: a stream id outside StreamIDRule.
	ErrBadStreamID = errors.New("invalid stream id")
)
