package pipeline

import (
	"errors"
	"fmt"

	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/whip"
)

// AttachWHIP is Attach with the errors the WHIP endpoint understands (whip.AttachFunc): a live
// id wraps whip.ErrStreamBusy (409), a pipeline not taking streams wraps whip.ErrNotRunning (503).
func (p *Pipeline) AttachWHIP(id, url string, src ingest.Source) error {
	err := p.Attach(id, url, src)
	switch {
	case errors.Is(err, ErrDuplicateStream):
		return fmt.Errorf("%w: %w", whip.ErrStreamBusy, err)
	case errors.Is(err, ErrNotRunning):
		return fmt.Errorf("%w: %w", whip.ErrNotRunning, err)
	}
	return err
}
