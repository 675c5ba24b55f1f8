package kafka

import "errors"

var (
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("invalid kafka sink config")
	// ErrNotAttempted marks events of a Write that were not sent because an earlier round of
	// the same Write failed; they are retryable.
	ErrNotAttempted = errors.New("not attempted after an earlier failure")
	// ErrTopicMissing reports a topic that does not exist while topic creation is off.
	ErrTopicMissing = errors.New("topic does not exist")
)
