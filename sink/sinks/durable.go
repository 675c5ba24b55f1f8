package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/outbox"
	"github.com/actionstream/actionstream/sink/redis"
)

// drainPoll is how often Drain looks whether every sink has caught up.
const drainPoll = 10 * time.Millisecond

// Durable is the configured sinks fed from the outbox: events are appended to the outbox
// (Append, the events.Outbox the pipeline emits into), and one delivery loop per enabled sink
// reads the outbox at that sink's own cursor, writing to the plain sink (no in-memory buffer)
// and advancing only on its acknowledgement.
type Durable struct {
	box     *outbox.Outbox
	members []*member
	log     *slog.Logger
	// Redis is the Redis sink for stream state (UpdateStream); nil unless enabled.
	Redis *redis.Sink
}

type member struct {
	plain
	delivery *outbox.Delivery
}

// AckObserver is told, after a sink acknowledged a batch, which sink and which events; the
// pipeline measures capture-to-acknowledgement latency with it. It must be quick.
type AckObserver func(sinkName string, evs []events.Event)

// OpenDurable opens the outbox in stateDir (one reader per enabled sink) and every enabled
// sink. Entries a sink that is no longer enabled had not acknowledged are no longer held for
// it; everything else stored is delivered once Run starts, whatever stream it came from.
func OpenDurable(c Config, stateDir string, log *slog.Logger, onAck AckObserver) (*Durable, error) {
	if log == nil {
		log = slog.Default()
	}
	if onAck == nil {
		onAck = func(string, []events.Event) {}
	}
	ps, rs, err := openPlain(c, log)
	if err != nil {
		return nil, err
	}
	d := &Durable{log: log.With("component", "sinks"), Redis: rs}
	for _, p := range ps {
		d.members = append(d.members, &member{plain: p})
	}
	closeAll := func() { closePlain(ps) }
	fail := func(section string, err error) (*Durable, error) {
		closeAll()
		return nil, fmt.Errorf("sinks.%s: %w", section, err)
	}
	opts, err := c.Outbox.Options()
	if err != nil {
		return fail("outbox", err)
	}
	opts.Logger = log
	for _, m := range d.members {
		opts.Readers = append(opts.Readers, m.name)
	}
	box, err := outbox.Open(stateDir, opts)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	d.box = box
	for _, m := range d.members {
		r, err := box.Reader(m.name)
		if err != nil {
			_ = box.Close(context.Background())
			closeAll()
			return nil, fmt.Errorf("sinks.%s: %w", m.name, err)
		}
		m.delivery = outbox.NewDelivery(r, deliverTo(m.name, m.s, onAck), outbox.DeliveryOptions{
			Name: m.name, BatchSize: sink.DefaultBufferConfig().MaxBatch, Permanent: sink.IsPermanent, Logger: log,
		})
	}
	return d, nil
}

// deliverTo is the outbox WriteFunc of one sink: decode the stored events, write them, and
// report the acknowledged ones.
func deliverTo(name string, s sink.Sink, onAck AckObserver) outbox.WriteFunc {
	return func(ctx context.Context, batch []outbox.Entry) error {
		evs := make([]events.Event, len(batch))
		for i, e := range batch {
			if err := json.Unmarshal(e.Data, &evs[i]); err != nil {
				// Only a corrupted store gets here; isolate and skip the entry.
				return sink.Permanent(fmt.Errorf("outbox entry %d is not an event: %w", e.Seq, err))
			}
		}
		if err := s.Write(ctx, evs); err != nil {
			return err
		}
		onAck(name, evs)
		return nil
	}
}

// Append encodes evs and appends them to the outbox in one batch (one fsync under "always").
// It blocks while the outbox is full or its disk fails, until ctx ends. An event that cannot
// be encoded (a NaN score) can never be delivered: it is left out and reported in the error,
// the others are appended.
func (d *Durable) Append(ctx context.Context, evs []events.Event) error {
	entries := make([][]byte, 0, len(evs))
	var bad []error
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the bytes the JSON-lines sink writes
	for i := range evs {
		buf.Reset()
		if err := enc.Encode(&evs[i]); err != nil {
			bad = append(bad, sink.Permanent(fmt.Errorf("encode event %s (%s): %w", evs[i].ID, evs[i].Type, err)))
			continue
		}
		entries = append(entries, bytes.TrimSuffix(bytes.Clone(buf.Bytes()), []byte("\n")))
	}
	if len(entries) > 0 {
		if _, err := d.box.AppendBatch(ctx, entries); err != nil {
			bad = append(bad, err)
		}
	}
	return errors.Join(bad...)
}

// Run delivers the outbox to every sink until ctx ends, then returns once every delivery loop
// has. Kafka's topics are checked (and created) first; a failure there is logged and left to
// the sink's writes, which retry it.
func (d *Durable) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, m := range d.members {
		wg.Go(func() {
			if m.ensure != nil {
				if err := m.ensure(ctx); err != nil && ctx.Err() == nil {
					d.log.Warn("kafka topics not ready at start; writes retry", "sink", m.name, "err", err)
				}
			}
			if err := m.delivery.Run(ctx); err != nil {
				d.log.Error("delivery stopped: outbox unreadable", "sink", m.name, "err", err)
			}
		})
	}
	wg.Wait()
}

// Drain waits until every sink has acknowledged everything appended so far, or ctx ends; it
// returns what each sink still lacks (empty when all caught up).
func (d *Durable) Drain(ctx context.Context) map[string]uint64 {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		lag := d.Lag()
		if len(lag) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return lag
		case <-t.C:
		}
	}
}

// Lag returns, per sink that has not acknowledged every appended entry, how many it lacks.
func (d *Durable) Lag() map[string]uint64 {
	st := d.box.Stats()
	lag := map[string]uint64{}
	for name, r := range st.Readers {
		if r.Cursor < st.LastSeq {
			lag[name] = st.LastSeq - r.Cursor
		}
	}
	if len(lag) == 0 {
		return nil
	}
	return lag
}

// Close closes the outbox (committing every append and acknowledgement; call it after Run
// returned) and then the sinks, all bounded by ctx. Undelivered events stay in the outbox.
func (d *Durable) Close(ctx context.Context) error {
	err := d.box.Close(ctx)
	if err != nil {
		err = fmt.Errorf("outbox: %w", err)
	}
	errs := make([]error, len(d.members))
	var wg sync.WaitGroup
	for i, m := range d.members {
		wg.Go(func() { errs[i] = m.s.Close(ctx) })
	}
	wg.Wait()
	return errors.Join(append(errs, err)...)
}

// SinkStats is one sink's delivery state.
type SinkStats struct {
	Name string
	outbox.DeliveryStats
	outbox.ReaderStats
}

// Stats returns the outbox's state and each sink's, in the order jsonl, kafka, redis.
func (d *Durable) Stats() (outbox.Stats, []SinkStats) {
	st := d.box.Stats()
	out := make([]SinkStats, len(d.members))
	for i, m := range d.members {
		out[i] = SinkStats{Name: m.name, DeliveryStats: m.delivery.Stats(), ReaderStats: st.Readers[m.name]}
	}
	return st, out
}
