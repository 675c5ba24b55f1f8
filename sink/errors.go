package sink

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrClosed is returned by Write after Close.
	ErrClosed = errors.New("sink: closed")
	// ErrPermanent marks a failure that retrying cannot fix (the event cannot be encoded, is
	// too large for the destination, ...). Everything else a sink returns is retryable.
	ErrPermanent = errors.New("sink: permanent failure")
	// ErrUndelivered is returned by Close when its deadline passed with events still buffered.
	ErrUndelivered = errors.New("sink: events not delivered before close deadline")
)

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// IsPermanent reports whether err wraps [ErrPermanent].
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// BatchError is returned by Write when only some events of a batch failed. It has one entry per
// event of the batch, in order: nil for a delivered event, else that event's error (which may
// wrap [ErrPermanent]).
type BatchError []error

func (e BatchError) Error() string {
	failed, first := 0, error(nil)
	for _, err := range e {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sink: %d of %d events failed", failed, len(e))
	if first != nil {
		fmt.Fprintf(&b, ": %v", first)
	}
	return b.String()
}

// Unwrap exposes the per-event errors to errors.Is and errors.As.
func (e BatchError) Unwrap() []error {
	var out []error
	for _, err := range e {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}
