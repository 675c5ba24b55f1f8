package expand

import "errors"

// Sentinel errors; wrapped messages carry the detail.
var (
	// ErrBadConfig: the search cannot start with this Config.
	ErrBadConfig = errors.New("expand: bad config")
	// ErrNoProgress: no axis can grow, or the step limit came before the target.
	ErrNoProgress = errors.New("expand: search cannot reach the target")
	// ErrBadResult: a Trainer result (returned or read back) is unusable.
	ErrBadResult = errors.New("expand: bad result")
)
