package sources

import "errors"

// ErrUnsupportedURL: no source serves this URL scheme.
var ErrUnsupportedURL = errors.New("unsupported stream URL")
