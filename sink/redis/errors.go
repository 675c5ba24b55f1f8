package redis

import "errors"

// ErrConfig reports an unusable Config or StreamState.
var ErrConfig = errors.New("invalid redis sink config")
