package bench

import "errors"

var (
	// ErrOptions: a benchmark option is out of range.
	ErrOptions = errors.New("bench: bad options")
	// ErrNotReady: the pipeline did not become ready in time.
	ErrNotReady = errors.New("bench: pipeline not ready")
	// ErrNoClips: the run ended without a clip to measure.
	ErrNoClips = errors.New("bench: no clip.scored lines were written")
)
