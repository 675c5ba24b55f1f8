package motion

import "errors"

// ErrInvalidConfig is wrapped by every Config validation error; the message names the field.
var ErrInvalidConfig = errors.New("invalid motion config")
