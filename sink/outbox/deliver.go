package outbox

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// WriteFunc delivers a batch to a sink and returns nil only once the sink has acknowledged all
// of it (Kafka acks=all, the Redis reply, the file's fsync). Any error means "not (all)
// delivered": the batch is retried whole, so a sink may see an entry more than once.
type WriteFunc func(ctx context.Context, batch []Entry) error

// DeliveryOptions configures a Delivery. Zero fields take the defaults shown.
type DeliveryOptions struct {
	Name       string        // sink name in logs; default the reader's name
	BatchSize  int           // entries per write; default 500
	MinBackoff time.Duration // first retry delay; default 100 ms, doubling with jitter
	MaxBackoff time.Duration // default 5 s
	// Permanent reports errors that retrying cannot fix (sink.IsPermanent). A batch failing
	// with one is retried entry by entry; an entry that fails permanently alone is skipped
	// (acknowledged and counted as Rejected) so it cannot block the reader forever. nil: every
	// error is retried.
	Permanent   func(error) bool
	LogInterval time.Duration // at most one failure line per interval while failing; default 30 s
	Logger      *slog.Logger
}

// Delivery moves one reader's entries into one sink: read from the cursor, write, advance the
// cursor only after the write returned nil, and otherwise retry with capped exponential
// backoff. Create it with NewDelivery and call Run once.
type Delivery struct {
	r     *Reader
	write WriteFunc
	opts  DeliveryOptions
	log   *slog.Logger

	mu    sync.Mutex
	stats DeliveryStats
}

// DeliveryStats counts a Delivery's work since it started.
type DeliveryStats struct {
	Delivered uint64 // entries the sink acknowledged
	Rejected  uint64 // entries skipped after a permanent error
	Failures  uint64 // failed write attempts
	// Up reports whether the last attempt succeeded (true before the first). DownSince is
	// when the current run of failures began; zero while up.
	Up        bool
	DownSince time.Time
}

// DownFor returns how long the sink has been failing at now; 0 while it is up.
func (s DeliveryStats) DownFor(now time.Time) time.Duration {
	if s.Up || s.DownSince.IsZero() {
		return 0
	}
	return now.Sub(s.DownSince)
}

// NewDelivery returns the delivery loop of r into write.
func NewDelivery(r *Reader, write WriteFunc, opts DeliveryOptions) *Delivery {
	if opts.Name == "" {
		opts.Name = r.Name()
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	if opts.Permanent == nil {
		opts.Permanent = func(error) bool { return false }
	}
	if opts.LogInterval <= 0 {
		opts.LogInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Delivery{
		r: r, write: write, opts: opts,
		log:   opts.Logger.With("component", "outbox", "sink", opts.Name),
		stats: DeliveryStats{Up: true},
	}
}

// Stats returns a snapshot of the counters.
func (d *Delivery) Stats() DeliveryStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Run delivers until ctx ends or the outbox closes, and then returns nil; it returns another
// error only if the outbox cannot be read. An entry whose write was cut short by ctx is not
// acknowledged, so the next start delivers it again.
func (d *Delivery) Run(ctx context.Context) error {
	var lastLog time.Time
	for {
		batch, err := d.r.Next(ctx, d.opts.BatchSize)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		if err := d.deliver(ctx, batch, &lastLog); err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// deliver writes batch until it is acknowledged or rejected, then advances the cursor.
func (d *Delivery) deliver(ctx context.Context, batch []Entry, lastLog *time.Time) error {
	backoff := d.opts.MinBackoff
	for {
		err := d.write(ctx, batch)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			d.succeeded(len(batch), 0)
			return d.r.Ack(batch[len(batch)-1].Seq)
		}
		if d.opts.Permanent(err) {
			if len(batch) > 1 {
				// Find the entries that can never be delivered; deliver the rest.
				for i := range batch {
					if err := d.deliver(ctx, batch[i:i+1], lastLog); err != nil {
						return err
					}
				}
				return nil
			}
			d.log.Error("entry rejected by sink; skipped", "seq", batch[0].Seq, "err", err)
			d.succeeded(0, 1)
			return d.r.Ack(batch[0].Seq)
		}
		d.failed(err, len(batch), lastLog)
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, d.opts.MaxBackoff)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (d *Delivery) succeeded(delivered, rejected int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stats.Up {
		d.log.Info("sink recovered", "down_for", time.Since(d.stats.DownSince).Round(time.Millisecond),
			"failures", d.stats.Failures)
	}
	d.stats.Delivered += uint64(delivered)
	d.stats.Rejected += uint64(rejected)
	d.stats.Up, d.stats.DownSince = true, time.Time{}
}

func (d *Delivery) failed(err error, n int, lastLog *time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.Failures++
	if d.stats.Up {
		d.stats.Up, d.stats.DownSince = false, time.Now()
		d.log.Warn("sink write failed; retrying with backoff", "err", err, "entries", n)
		*lastLog = time.Now()
		return
	}
	if time.Since(*lastLog) >= d.opts.LogInterval {
		d.log.Warn("sink still failing", "err", err, "down_for", time.Since(d.stats.DownSince).Round(time.Second),
			"failures", d.stats.Failures)
		*lastLog = time.Now()
	}
}
