package python

import "errors"

// Sentinel errors. Callers test with errors.Is; wrapped messages carry the detail.
var (
	// ErrNoPython: no Python interpreter was found (set ACTIONSTREAM_PYTHON).
	ErrNoPython = errors.New("python interpreter not found")
	// ErrFailed: the Python command exited with an error; the message carries the
	// Python-side reason or the tail of its stderr.
	ErrFailed = errors.New("python command failed")
	// ErrProtocol: the Python side broke the JSON-lines protocol (no result, bad JSON).
	ErrProtocol = errors.New("python protocol error")
	// ErrMismatch: the network PyTorch built disagrees with the Go architecture spec.
	ErrMismatch = errors.New("pytorch network does not match the architecture spec")
	// ErrBadOptions: an option value is invalid.
	ErrBadOptions = errors.New("bad python options")
)
