package sink

import (
	"context"
	"errors"
	"sync"

	"github.com/actionstream/actionstream/events"
)

// Fanout writes every batch to several sinks. Give each its own [Buffered] wrapper so that one
// sink being down does not hold back the others until its own buffer is full; after that, Write
// blocks (nothing is dropped), which is the back-pressure policy of the package.
type Fanout struct {
	sinks []Sink
}

// NewFanout returns a Sink writing to all of sinks, in the order given. It owns them: Close
// closes them.
func NewFanout(sinks ...Sink) *Fanout {
	return &Fanout{sinks: append([]Sink(nil), sinks...)}
}

// Write writes batch to every sink and returns the joined errors. A sink that failed does not
// keep the batch from the others; retrying after an error re-delivers to the sinks that had
// accepted it (duplicates with identical ids).
func (f *Fanout) Write(ctx context.Context, batch []events.Event) error {
	var errs []error
	for _, s := range f.sinks {
		if err := s.Write(ctx, batch); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close closes all sinks concurrently under the same ctx and returns the joined errors.
func (f *Fanout) Close(ctx context.Context) error {
	errs := make([]error, len(f.sinks))
	var wg sync.WaitGroup
	for i, s := range f.sinks {
		wg.Go(func() { errs[i] = s.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Stats returns the counters of every sink that keeps them (see [AllStats]).
func (f *Fanout) Stats() []Stats {
	var out []Stats
	for _, s := range f.sinks {
		out = append(out, AllStats(s)...)
	}
	return out
}

// AllStats returns the counters of s: one entry for a [Buffered] sink, one per buffered member
// of a [Fanout], none for a sink that keeps no counters. The lead publishes these as metrics.
func AllStats(s Sink) []Stats {
	switch v := s.(type) {
	case *Buffered:
		return []Stats{v.Stats()}
	case *Fanout:
		return v.Stats()
	case interface{ Stats() Stats }:
		return []Stats{v.Stats()}
	}
	return nil
}
