package whip

import (
	"errors"
	"fmt"

	"github.com/actionstream/actionstream/ingest"
)

var (
	// ErrStreamBusy: a stream with this id is live; the publisher gets 409. An Attach func
	// returns an error wrapping it when the pipeline already has the id.
	ErrStreamBusy = errors.New("stream id is live")
	// ErrNotRunning: the pipeline does not take streams now (starting or shutting down); 503.
	ErrNotRunning = errors.New("not accepting streams")
	// ErrBadConfig: invalid WHIP configuration.
	ErrBadConfig = errors.New("invalid whip config")
	// ErrSessionOver: the session ended (DELETE, ICE failure, publisher gone); its Source
	// cannot run again, the publisher has to POST a new offer.
	ErrSessionOver = fmt.Errorf("whip session over: %w", ingest.ErrPermanent)
	// ErrNoVideo: the session ended (or TrackTimeout passed) before any video reached the
	// pipeline: the publisher never connected, or sent no video track.
	ErrNoVideo = fmt.Errorf("whip publisher sent no video: %w", ingest.ErrPermanent)
	// ErrClosed: the server was closed.
	ErrClosed = errors.New("whip server closed")
)
