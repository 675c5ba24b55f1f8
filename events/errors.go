package events

import "errors"

var (
	// ErrInvalidConfig is wrapped by every Config validation error; the message names the field.
	ErrInvalidConfig = errors.New("invalid events config")
	// ErrInvalidEvent is wrapped by every Validate error; the message names the event and field.
	ErrInvalidEvent = errors.New("event violates the contract")
	// ErrBadResult is wrapped when a clip result fed to a Tracker is malformed (a wiring bug).
	ErrBadResult = errors.New("malformed clip result")
)
