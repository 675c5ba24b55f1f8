package outbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// BenchConfig says what Bench measures.
type BenchConfig struct {
	Policy     SyncPolicy // zero: DefaultSyncPolicy()
	Events     int        // events appended in all
	EventBytes int        // bytes per event (a clip.scored event is about 700)
	Batch      int        // events per AppendBatch call; default 1 (one Append per event)
}

// BenchResult is what Bench measured.
type BenchResult struct {
	Policy     SyncPolicy
	Events     int
	EventBytes int
	Batch      int
	// Elapsed runs from the first Append to the moment every event is committed; EventsPerSec
	// is Events over it.
	Elapsed      time.Duration
	EventsPerSec float64
	Commits      uint64 // write transactions (fsyncs) it took
	// Drained is when the reader had acknowledged everything (from the first Append).
	Drained time.Duration
}

func (r BenchResult) String() string {
	return fmt.Sprintf("fsync %-6s batch %d, %d events of %d B: %.0f events/s (%s, %d commits; drained after %s)",
		r.Policy, r.Batch, r.Events, r.EventBytes, r.EventsPerSec, r.Elapsed.Round(time.Millisecond), r.Commits,
		r.Drained.Round(time.Millisecond))
}

// Bench measures append throughput as the pipeline uses the outbox: one goroutine appends
// cfg.Events events of cfg.EventBytes each, cfg.Batch per call, to a new outbox in dir (which
// must not hold one) under cfg.Policy, while one reader delivers to a sink that accepts at once
// and acknowledges. dir is left with the empty outbox.
func Bench(ctx context.Context, dir string, cfg BenchConfig) (BenchResult, error) {
	n := cfg.Events
	if cfg.Batch == 0 {
		cfg.Batch = 1
	}
	if n <= 0 || cfg.EventBytes <= 0 || cfg.Batch < 0 {
		return BenchResult{}, fmt.Errorf("%w: bench needs positive events (%d), size (%d) and batch (%d)", ErrOptions, n, cfg.EventBytes, cfg.Batch)
	}
	o, err := Open(dir, Options{Sync: cfg.Policy, Readers: []string{"bench"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return BenchResult{}, err
	}
	if st := o.Stats(); st.LastSeq != 0 {
		_ = o.Close(ctx)
		return BenchResult{}, fmt.Errorf("%w: bench needs a new outbox; %s already holds %d entries", ErrOptions, dir, st.LastSeq)
	}
	r, err := o.Reader("bench")
	if err != nil {
		_ = o.Close(ctx)
		return BenchResult{}, err
	}
	dctx, stopDelivery := context.WithCancel(ctx)
	d := NewDelivery(r, func(context.Context, []Entry) error { return nil }, DeliveryOptions{Logger: o.log})
	var wg sync.WaitGroup
	wg.Go(func() { _ = d.Run(dctx) })
	defer func() {
		stopDelivery()
		wg.Wait()
	}()

	event := []byte(strings.Repeat("e", cfg.EventBytes))
	batch := make([][]byte, cfg.Batch)
	for i := range batch {
		batch[i] = event
	}
	start := time.Now()
	for done := 0; done < n; done += len(batch) {
		if _, err := o.AppendBatch(ctx, batch[:min(len(batch), n-done)]); err != nil {
			_ = o.Close(ctx)
			return BenchResult{}, err
		}
	}
	for o.Stats().DurableSeq < uint64(n) {
		if ctx.Err() != nil {
			_ = o.Close(ctx)
			return BenchResult{}, ctx.Err()
		}
		time.Sleep(100 * time.Microsecond)
	}
	res := BenchResult{Policy: o.opts.Sync, Events: n, EventBytes: cfg.EventBytes, Batch: cfg.Batch, Elapsed: time.Since(start)}
	res.EventsPerSec = float64(n) / res.Elapsed.Seconds()
	res.Commits = o.Stats().Commits
	for r.Cursor() < uint64(n) {
		if ctx.Err() != nil {
			_ = o.Close(ctx)
			return BenchResult{}, ctx.Err()
		}
		time.Sleep(100 * time.Microsecond)
	}
	res.Drained = time.Since(start)
	stopDelivery()
	wg.Wait()
	return res, o.Close(ctx)
}
