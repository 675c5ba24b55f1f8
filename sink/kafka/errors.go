package kafka

import "errors"

var (
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("invalid kafka sink config")
	// ErrNotAttempted marks events of a Write that were not sent because an earlier round of
	// the same Write failed; they are retryable.
	ErrNotAttempted = errors.New("not attempted after an earlier failure")
)
