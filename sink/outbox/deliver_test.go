package outbox_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actionstream/actionstream/sink/outbox"
)

var errPoison = errors.New("event can never be encoded")

// flakySink fails while down is set, fails permanently for the poison entries, and records
// every batch it was given and what it accepted.
type flakySink struct {
	down     atomic.Bool
	poison   map[string]bool
	attempts atomic.Int64
	collector
}

func (s *flakySink) write(ctx context.Context, batch []outbox.Entry) error {
	s.attempts.Add(1)
	if s.down.Load() {
		return errors.New("redis: connection refused")
	}
	for _, e := range batch {
		if s.poison[string(e.Data)] {
			return errPoison
		}
	}
	return s.collector.write(ctx, batch)
}

func runDelivery(t *testing.T, d *outbox.Delivery) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = d.Run(ctx) })
	return func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("Run after cancel: %v, want nil", runErr)
		}
	}
}

func TestDeliveryRetriesAFailingSinkAndAdvancesOnlyOnSuccess(t *testing.T) {
	o := open(t, t.TempDir(), outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, Readers: []string{"redis"}})
	defer closeOutbox(t, o)
	r := reader(t, o, "redis")
	sink := &flakySink{}
	sink.down.Store(true)
	d := outbox.NewDelivery(r, sink.write, outbox.DeliveryOptions{BatchSize: 7, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: quietLogger()})
	stop := runDelivery(t, d)
	defer stop()

	appendN(t, o, 0, 30)
	waitFor(t, "several failed attempts", func() bool { return d.Stats().Failures >= 3 })
	time.Sleep(30 * time.Millisecond)
	st := d.Stats()
	if st.Up || st.Delivered != 0 || st.DownSince.IsZero() || st.DownFor(time.Now()) < 30*time.Millisecond {
		t.Fatalf("while the sink is down: %+v (down for %s)", st, st.DownFor(time.Now()))
	}
	if c := r.Cursor(); c != 0 {
		t.Fatalf("cursor advanced to %d while every write failed", c)
	}
	if n := o.Stats().Entries; n != 30 {
		t.Fatalf("%d entries stored while undelivered, want 30", n)
	}

	sink.down.Store(false)
	waitFor(t, "everything delivered", func() bool { return d.Stats().Delivered == 30 })
	appendN(t, o, 30, 40)
	waitFor(t, "later entries delivered", func() bool { return d.Stats().Delivered == 40 })
	st = d.Stats()
	if !st.Up || !st.DownSince.IsZero() || st.DownFor(time.Now()) != 0 || st.Rejected != 0 {
		t.Fatalf("after recovery: %+v", st)
	}
	// A failed write delivers nothing here, so each event arrives once, in order.
	got := sink.lines()
	if len(got) != 40 {
		t.Fatalf("sink got %d events, want 40", len(got))
	}
	for i, l := range got {
		if l != string(event(i)) {
			t.Fatalf("event %d is %q, want %q", i, l, event(i))
		}
	}
	waitFor(t, "delivered entries deleted", func() bool { return o.Stats().Entries == 0 })
}

func TestDeliverySkipsOnlyTheEntryThatFailsPermanently(t *testing.T) {
	o := open(t, t.TempDir(), outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}, Readers: []string{"kafka"}})
	defer closeOutbox(t, o)
	sink := &flakySink{poison: map[string]bool{string(event(4)): true}}
	appendN(t, o, 0, 10)
	d := outbox.NewDelivery(reader(t, o, "kafka"), sink.write, outbox.DeliveryOptions{
		Permanent: func(err error) bool { return errors.Is(err, errPoison) }, Logger: quietLogger(),
	})
	stop := runDelivery(t, d)
	defer stop()
	waitFor(t, "all handled", func() bool { st := d.Stats(); return st.Delivered+st.Rejected == 10 })
	if st := d.Stats(); st.Delivered != 9 || st.Rejected != 1 || st.Failures != 0 {
		t.Fatalf("stats %+v, want 9 delivered, 1 rejected", st)
	}
	got := strings.Join(sink.lines(), "\n")
	if strings.Contains(got, string(event(4))) || !strings.Contains(got, string(event(3))) || !strings.Contains(got, string(event(5))) {
		t.Fatalf("sink got %s", got)
	}
}

func TestDeliveryStopsWhenTheOutboxCloses(t *testing.T) {
	o := open(t, t.TempDir(), outbox.Options{Readers: []string{"jsonl"}})
	d := outbox.NewDelivery(reader(t, o, "jsonl"), (&collector{}).write, outbox.DeliveryOptions{Logger: quietLogger()})
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	closeOutbox(t, o)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after Close: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the outbox closed")
	}
}

// A graceful stop while the sink is down keeps the undelivered entries for the next start.
func TestGracefulStopWithADeadSinkKeepsEntries(t *testing.T) {
	dir := t.TempDir()
	o := open(t, dir, outbox.Options{Readers: []string{"kafka"}})
	sink := &flakySink{}
	sink.down.Store(true)
	d := outbox.NewDelivery(reader(t, o, "kafka"), sink.write, outbox.DeliveryOptions{MinBackoff: time.Millisecond, Logger: quietLogger()})
	stop := runDelivery(t, d)
	appendN(t, o, 0, 14)
	waitFor(t, "a failed attempt", func() bool { return d.Stats().Failures > 0 })
	stop()
	closeOutbox(t, o)

	o = open(t, dir, outbox.Options{Readers: []string{"kafka"}})
	defer closeOutbox(t, o)
	sink.down.Store(false)
	d = outbox.NewDelivery(reader(t, o, "kafka"), sink.write, outbox.DeliveryOptions{Logger: quietLogger()})
	stop = runDelivery(t, d)
	defer stop()
	waitFor(t, "the 14 kept events delivered after the restart", func() bool { return d.Stats().Delivered == 14 })
}
