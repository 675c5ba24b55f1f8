package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/actionstream/actionstream/events"
)

// BufferConfig configures a [Buffered] wrapper. Zero fields take DefaultBufferConfig's values.
type BufferConfig struct {
	Name        string        // names the sink in logs and Stats (e.g. "kafka")
	Capacity    int           // events held before Write blocks
	MaxBatch    int           // events per Write to the wrapped sink
	BackoffMin  time.Duration // first retry delay
	BackoffMax  time.Duration // retry delay cap
	LogInterval time.Duration // at most one error-totals line per interval
	Logger      *slog.Logger  // default slog.Default()
}

// DefaultBufferConfig is the one definition of the buffer's defaults.
func DefaultBufferConfig() BufferConfig {
	return BufferConfig{Name: "sink", Capacity: 10000, MaxBatch: 500, BackoffMin: 100 * time.Millisecond,
		BackoffMax: 5 * time.Second, LogInterval: 30 * time.Second}
}

func (c BufferConfig) withDefaults() BufferConfig {
	d := DefaultBufferConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.Capacity <= 0 {
		c.Capacity = d.Capacity
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.MaxBatch > c.Capacity {
		c.MaxBatch = c.Capacity
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = d.BackoffMin
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(d.BackoffMax, c.BackoffMin)
	}
	if c.LogInterval <= 0 {
		c.LogInterval = d.LogInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Stats are a Buffered sink's counters since it was created. Accepted = Delivered + Rejected +
// Undelivered + Buffered at every instant.
type Stats struct {
	Name          string
	Buffered      int           // accepted, not yet delivered (includes the batch in flight)
	Capacity      int           // bound of Buffered
	Accepted      uint64        // events taken by Write
	Delivered     uint64        // events the wrapped sink confirmed
	Rejected      uint64        // events skipped after a permanent error
	Undelivered   uint64        // events abandoned when the Close deadline passed
	Errors        uint64        // failed Write attempts to the wrapped sink
	Retries       uint64        // Write attempts repeated after a failure
	BlockedWrites uint64        // Writes that waited for space (back-pressure)
	BlockedTime   time.Duration // total time Writes waited for space
	Up            bool          // the last delivery attempt succeeded (true before any attempt)
}

// Buffered decouples producers of events from a slow or unavailable sink: Write puts events in
// a bounded FIFO and returns; one goroutine delivers them in order to the wrapped sink, retrying
// failures with capped exponential backoff and jitter until they succeed. When the buffer is
// full Write blocks until there is room (back-pressure, see the package documentation).
//
// Buffered owns its goroutine: it starts in NewBuffered and Close waits for it. Write's ctx
// bounds only the wait for space; once Write returns nil the events belong to Buffered and are
// delivered independently of that ctx. A batch no larger than Capacity is accepted whole or not
// at all; a larger one is accepted in Capacity-sized parts, so an error may leave a prefix
// accepted (it will be delivered; retrying the batch then duplicates it with identical ids).
type Buffered struct {
	inner Sink
	cfg   BufferConfig
	log   *slog.Logger

	mu      sync.Mutex
	ring    []events.Event // FIFO of capacity cfg.Capacity
	head    int
	count   int
	closing bool
	space   chan struct{} // closed and replaced whenever space is freed or Close starts
	st      Stats
	// Events of the batch being delivered already resolved (delivered or rejected); Close
	// subtracts them from count when it abandons the rest.
	inFlight    int
	lastFullLog time.Time // last "buffer full" line: at most one per LogInterval

	data chan struct{} // capacity 1: wakes the delivery goroutine
	// runCtx is Buffered's own context for the wrapped sink's calls, cancelled by Close when
	// its deadline passes (not a caller's context).
	runCtx context.Context
	abort  context.CancelFunc
	done   chan struct{}

	// Delivery goroutine only.
	scratch   []events.Event
	failedAt  time.Time
	lastLog   time.Time
	errsSince uint64 // failed attempts since the last log line
	errsDown  uint64 // failed attempts since delivery last succeeded
	lastErr   error  // read by Close only after the goroutine ended

	closeOnce  sync.Once
	closeError error
}

// NewBuffered wraps inner; the wrapper owns inner from now on and closes it in Close.
func NewBuffered(inner Sink, cfg BufferConfig) *Buffered {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	b := &Buffered{
		inner:  inner,
		cfg:    cfg,
		log:    cfg.Logger.With("component", "sink", "sink", cfg.Name),
		ring:   make([]events.Event, cfg.Capacity),
		space:  make(chan struct{}),
		data:   make(chan struct{}, 1),
		runCtx: ctx,
		abort:  cancel,
		done:   make(chan struct{}),
	}
	b.st.Name = cfg.Name
	b.st.Capacity = cfg.Capacity
	b.st.Up = true
	go b.run()
	return b
}

// Write enqueues batch, blocking while the buffer is full. It fails with ctx's error if ctx ends
// first, or with ErrClosed once Close has started.
func (b *Buffered) Write(ctx context.Context, batch []events.Event) error {
	for len(batch) > 0 {
		n := min(len(batch), b.cfg.Capacity)
		if err := b.enqueue(ctx, batch[:n]); err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

func (b *Buffered) enqueue(ctx context.Context, part []events.Event) error {
	b.mu.Lock()
	var waitStart time.Time
	for !b.closing && b.cfg.Capacity-b.count < len(part) {
		if waitStart.IsZero() {
			waitStart = time.Now()
			b.st.BlockedWrites++
			if waitStart.Sub(b.lastFullLog) >= b.cfg.LogInterval {
				b.lastFullLog = waitStart
				b.log.Warn("sink buffer full; writers wait (back-pressure)", "buffered", b.count,
					"capacity", b.cfg.Capacity, "blocked_writes", b.st.BlockedWrites, "blocked_time", b.st.BlockedTime.Round(time.Millisecond))
			}
		}
		space := b.space
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			b.mu.Lock()
			b.st.BlockedTime += time.Since(waitStart)
			b.mu.Unlock()
			return fmt.Errorf("sink %s: waiting for buffer space: %w", b.cfg.Name, ctx.Err())
		case <-space:
		}
		b.mu.Lock()
	}
	if !waitStart.IsZero() {
		b.st.BlockedTime += time.Since(waitStart)
	}
	if b.closing {
		b.mu.Unlock()
		return fmt.Errorf("sink %s: %w", b.cfg.Name, ErrClosed)
	}
	for _, ev := range part {
		b.ring[(b.head+b.count)%len(b.ring)] = ev
		b.count++
	}
	b.st.Accepted += uint64(len(part))
	b.mu.Unlock()
	select {
	case b.data <- struct{}{}:
	default:
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (b *Buffered) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.st
	s.Buffered = b.count
	return s
}

// Close stops accepting events, waits until everything accepted is delivered or ctx ends, then
// closes the wrapped sink. Events still buffered when ctx ends are counted as Undelivered and
// reported in an error wrapping ErrUndelivered. Writers blocked on a full buffer get ErrClosed.
func (b *Buffered) Close(ctx context.Context) error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closing = true
		close(b.space)
		b.space = make(chan struct{})
		b.mu.Unlock()
		select {
		case b.data <- struct{}{}:
		default:
		}

		select {
		case <-b.done:
		case <-ctx.Done():
			b.abort()
			<-b.done
		}
		b.abort()

		var errs []error
		b.mu.Lock()
		left := b.count - b.inFlight
		b.count = 0
		b.st.Undelivered += uint64(left)
		b.mu.Unlock()
		if left > 0 {
			errs = append(errs, fmt.Errorf("sink %s: %d events: %w (last error: %v)", b.cfg.Name, left, ErrUndelivered, b.lastErr))
			b.log.Error("sink closed with undelivered events", "undelivered", left, "last_error", b.lastErr)
		}
		if err := b.inner.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: close: %w", b.cfg.Name, err))
		}
		b.closeError = errors.Join(errs...)
	})
	return b.closeError
}

// run is the delivery goroutine.
func (b *Buffered) run() {
	defer close(b.done)
	for {
		batch := b.next()
		if batch == nil {
			return
		}
		if !b.deliver(batch) {
			return // aborted by Close; what is left is counted there
		}
		b.mu.Lock()
		b.inFlight = 0
		for i := range batch {
			b.ring[(b.head+i)%len(b.ring)] = events.Event{} // drop references
		}
		b.head = (b.head + len(batch)) % len(b.ring)
		b.count -= len(batch)
		close(b.space)
		b.space = make(chan struct{})
		b.mu.Unlock()
	}
}

// next copies up to MaxBatch events from the head of the FIFO, leaving them counted as
// buffered until delivered. It returns nil when closing with nothing left, or when aborted.
func (b *Buffered) next() []events.Event {
	for {
		b.mu.Lock()
		n := min(b.count, b.cfg.MaxBatch)
		closing := b.closing
		if n > 0 {
			b.scratch = b.scratch[:0]
			for i := range n {
				b.scratch = append(b.scratch, b.ring[(b.head+i)%len(b.ring)])
			}
			b.mu.Unlock()
			return b.scratch
		}
		b.mu.Unlock()
		if closing {
			return nil
		}
		select {
		case <-b.data:
		case <-b.runCtx.Done():
			return nil
		}
	}
}

// deliver writes batch to the wrapped sink until every event is delivered or rejected. It
// returns false if Close aborted it.
func (b *Buffered) deliver(batch []events.Event) bool {
	pending := batch
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			b.mu.Lock()
			b.st.Retries++
			b.mu.Unlock()
			if !b.sleep(b.backoff(attempt)) {
				return false
			}
		}
		err := b.inner.Write(b.runCtx, pending)
		if err == nil {
			b.resolved(len(pending), 0)
			b.noteSuccess()
			return true
		}
		if b.runCtx.Err() != nil {
			return false
		}
		var be BatchError
		switch {
		case errors.As(err, &be) && len(be) == len(pending):
			kept := pending[:0:0]
			delivered, rejected := 0, 0
			for i, e := range be {
				switch {
				case e == nil:
					delivered++
				case IsPermanent(e):
					rejected++
					b.log.Error("event rejected by sink", "stream", pending[i].Data.Stream, "id", pending[i].ID, "err", e)
				default:
					kept = append(kept, pending[i])
				}
			}
			b.resolved(delivered, rejected)
			if len(kept) == 0 {
				b.noteSuccess()
				return true
			}
			pending = kept
		case IsPermanent(err):
			if len(pending) == 1 {
				b.resolved(0, 1)
				b.log.Error("event rejected by sink", "stream", pending[0].Data.Stream, "id", pending[0].ID, "err", err)
				return true
			}
			// The sink could not say which event is bad: isolate it by delivering one at a time.
			for i := range pending {
				if !b.deliver(pending[i : i+1]) {
					return false
				}
			}
			return true
		}
		b.noteFailure(err)
	}
}

func (b *Buffered) resolved(delivered, rejected int) {
	b.mu.Lock()
	b.st.Delivered += uint64(delivered)
	b.st.Rejected += uint64(rejected)
	b.inFlight += delivered + rejected
	b.mu.Unlock()
}

func (b *Buffered) backoff(attempt int) time.Duration {
	d := b.cfg.BackoffMin
	for i := 1; i < attempt && d < b.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, b.cfg.BackoffMax)
	// Jitter in [d/2, d) so that sinks failing together do not retry in lockstep.
	return d/2 + rand.N(d/2+1)
}

func (b *Buffered) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.runCtx.Done():
		return false
	}
}

// noteFailure counts a failed attempt and logs totals: at the first failure, then at most once
// per LogInterval while failures continue.
func (b *Buffered) noteFailure(err error) {
	b.mu.Lock()
	b.st.Errors++
	wasUp := b.st.Up
	b.st.Up = false
	buffered := b.count
	b.mu.Unlock()
	b.errsSince++
	b.lastErr = err
	now := time.Now()
	if wasUp {
		b.failedAt = now
		b.errsDown = 0
	}
	b.errsDown++
	if wasUp || now.Sub(b.lastLog) >= b.cfg.LogInterval {
		b.log.Warn("sink delivery failing; retrying", "errors", b.errsSince, "buffered", buffered,
			"down_for", now.Sub(b.failedAt).Round(time.Millisecond), "last_error", err)
		b.lastLog = now
		b.errsSince = 0
	}
}

func (b *Buffered) noteSuccess() {
	b.mu.Lock()
	wasUp := b.st.Up
	b.st.Up = true
	b.mu.Unlock()
	if !wasUp {
		b.log.Info("sink delivery resumed", "errors", b.errsDown, "down_for", time.Since(b.failedAt).Round(time.Millisecond))
		b.errsSince = 0
	}
}
