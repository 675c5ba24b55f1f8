package decode

import (
	"errors"
	"fmt"

	"github.com/actionstream/actionstream/ingest"
)

var (
	// ErrTooLarge: the stream's resolution is over the configured cap.
	ErrTooLarge = fmt.Errorf("resolution over the cap: %w", ingest.ErrPermanent)
	// ErrUnsupportedCodec: FFmpeg has no decoder for the stream, or it failed to open.
	ErrUnsupportedCodec = fmt.Errorf("unsupported codec: %w", ingest.ErrPermanent)
	// ErrNoFrame: no frame has been converted yet, so there is no thumbnail.
	ErrNoFrame = errors.New("no frame yet")
	// ErrClosed: the decoder was closed.
	ErrClosed = errors.New("decoder closed")
	// ErrConfig: invalid decoder configuration.
	ErrConfig = errors.New("invalid decode config")
)
