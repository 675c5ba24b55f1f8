package sink_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
	"github.com/actionstream/actionstream/sink"
)

var errDown = errors.New("destination down")

// memSink is a controllable in-memory Sink.
type memSink struct {
	mu      sync.Mutex
	down    bool
	got     []events.Event
	writes  int
	reject  map[string]bool                            // ids that fail permanently (whole batch error)
	partial func(batch []events.Event) sink.BatchError // per-event results, nil = all ok
	closed  bool
}

func (m *memSink) Write(ctx context.Context, batch []events.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	if m.closed {
		return sink.ErrClosed
	}
	if m.down {
		return fmt.Errorf("write: %w", errDown)
	}
	for _, ev := range batch {
		if m.reject[ev.ID] {
			return sink.Permanent(fmt.Errorf("event %s is poison", ev.ID))
		}
	}
	if m.partial != nil {
		if be := m.partial(batch); be != nil {
			for i, err := range be {
				if err == nil {
					m.got = append(m.got, batch[i])
				}
			}
			return be
		}
	}
	m.got = append(m.got, batch...)
	return nil
}

func (m *memSink) Close(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memSink) setDown(d bool) {
	m.mu.Lock()
	m.down = d
	m.mu.Unlock()
}

func (m *memSink) received() []events.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]events.Event(nil), m.got...)
}

func fastConfig(name string, capacity int) sink.BufferConfig {
	return sink.BufferConfig{Name: name, Capacity: capacity, MaxBatch: 7, BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond}
}

// checkInvariant asserts Accepted = Delivered + Rejected + Undelivered + Buffered.
func checkInvariant(t *testing.T, s sink.Stats) {
	t.Helper()
	if s.Accepted != s.Delivered+s.Rejected+s.Undelivered+uint64(s.Buffered) {
		t.Errorf("stats do not add up: %+v", s)
	}
}

// sameOrder asserts got is exactly want (ids, in order).
func sameOrder(t *testing.T, got, want []events.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID {
			t.Fatalf("event %d: id %s, want %s", i, got[i].ID, want[i].ID)
		}
	}
}

func TestBufferedDeliversInOrderAfterOutageAndBlocksWhenFull(t *testing.T) {
	sinktest.CheckGoroutines(t)
	mem := &memSink{down: true}
	b := sink.NewBuffered(mem, fastConfig("mem", 20))
	evs := sinktest.Interleave(sinktest.Stream("cam-a", 20), sinktest.Stream("cam-b", 20))
	ctx := context.Background()

	// The sink is down: the first 20 events fit, the write of the next ones must block.
	for i := 0; i < 20; i += 4 {
		if err := b.Write(ctx, evs[i:i+4]); err != nil {
			t.Fatal(err)
		}
	}
	blocked := make(chan error, 1)
	go func() { blocked <- b.Write(ctx, evs[20:]) }()
	select {
	case err := <-blocked:
		t.Fatalf("Write returned %v with a full buffer; want it to block", err)
	case <-time.After(100 * time.Millisecond):
	}
	s := b.Stats()
	if s.Buffered != 20 || s.BlockedWrites != 1 || s.Up || s.Errors == 0 || s.Delivered != 0 {
		t.Fatalf("while down: %+v", s)
	}
	checkInvariant(t, s)

	mem.setDown(false)
	if err := <-blocked; err != nil {
		t.Fatalf("blocked Write: %v", err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return b.Stats().Delivered == uint64(len(evs)) }, testutil.Says("all delivered"))
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sameOrder(t, mem.received(), evs)
	s = b.Stats()
	if !s.Up || s.Retries == 0 || s.Buffered != 0 || s.BlockedTime < 50*time.Millisecond {
		t.Fatalf("after recovery: %+v", s)
	}
	checkInvariant(t, s)
	if !mem.closed {
		t.Fatal("Close did not close the wrapped sink")
	}
}

func TestBufferedCloseFlushesEverythingAccepted(t *testing.T) {
	mem := &memSink{}
	b := sink.NewBuffered(mem, sink.BufferConfig{Capacity: 1000})
	evs := sinktest.Stream("cam", 500)
	for i := range evs {
		if err := b.Write(context.Background(), evs[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameOrder(t, mem.received(), evs)
	if err := b.Write(context.Background(), evs[:1]); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
}

func TestBufferedCloseDeadlineReportsUndelivered(t *testing.T) {
	sinktest.CheckGoroutines(t)
	mem := &memSink{down: true}
	b := sink.NewBuffered(mem, fastConfig("mem", 100))
	evs := sinktest.Stream("cam", 30)
	if err := b.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := b.Close(ctx)
	if !errors.Is(err, sink.ErrUndelivered) || !errors.Is(err, errDown) && !strings.Contains(err.Error(), errDown.Error()) {
		t.Fatalf("Close: %v, want ErrUndelivered naming the last error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v past its deadline", d)
	}
	s := b.Stats()
	if s.Undelivered != 30 || s.Buffered != 0 {
		t.Fatalf("stats: %+v", s)
	}
	checkInvariant(t, s)
}

func TestBufferedWriteHonoursContextAndClose(t *testing.T) {
	sinktest.CheckGoroutines(t)
	mem := &memSink{down: true}
	b := sink.NewBuffered(mem, fastConfig("mem", 5))
	evs := sinktest.Stream("cam", 10)
	if err := b.Write(context.Background(), evs[:5]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := b.Write(ctx, evs[5:7]); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write on a full buffer with an expiring ctx: %v", err)
	}
	if s := b.Stats(); s.Accepted != 5 {
		t.Fatalf("a refused batch was partly accepted: %+v", s)
	}

	blocked := make(chan error, 1)
	go func() { blocked <- b.Write(context.Background(), evs[5:]) }()
	time.Sleep(20 * time.Millisecond)
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelClose()
	_ = b.Close(closeCtx)
	if err := <-blocked; !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("writer blocked during Close got %v, want ErrClosed", err)
	}
}

func TestBufferedRejectsOnlyThePermanentlyBadEvent(t *testing.T) {
	evs := sinktest.Stream("cam", 40)
	poison := evs[17].ID
	mem := &memSink{reject: map[string]bool{poison: true}}
	b := sink.NewBuffered(mem, sink.BufferConfig{Capacity: 100, MaxBatch: 50})
	if err := b.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := append(append([]events.Event(nil), evs[:17]...), evs[18:]...)
	sameOrder(t, mem.received(), want)
	s := b.Stats()
	if s.Rejected != 1 || s.Delivered != 39 {
		t.Fatalf("stats: %+v", s)
	}
	checkInvariant(t, s)
}

func TestBufferedRetriesOnlyFailedEventsOfABatchError(t *testing.T) {
	a, c := sinktest.Stream("cam-a", 30), sinktest.Stream("cam-c", 30)
	evs := sinktest.Interleave(a, c)
	failC := 3 // the first three writes fail every cam-c event (as a down partition would)
	mem := &memSink{}
	mem.partial = func(batch []events.Event) sink.BatchError {
		if failC == 0 {
			return nil
		}
		failC--
		be := make(sink.BatchError, len(batch))
		for i, ev := range batch {
			if ev.Data.Stream == "cam-c" {
				be[i] = errDown
			}
		}
		return be
	}
	b := sink.NewBuffered(mem, fastConfig("mem", 100))
	if err := b.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := mem.received()
	if len(got) != len(evs) {
		t.Fatalf("got %d events, want %d (no duplicates: only failed events are retried)", len(got), len(evs))
	}
	byStream := map[string][]events.Event{}
	for _, ev := range got {
		byStream[ev.Data.Stream] = append(byStream[ev.Data.Stream], ev)
	}
	sameOrder(t, byStream["cam-a"], a)
	sameOrder(t, byStream["cam-c"], c)
	if s := b.Stats(); s.Errors != 3 || s.Retries != 3 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestBufferedConcurrentWriters(t *testing.T) {
	mem := &memSink{}
	b := sink.NewBuffered(mem, fastConfig("mem", 16))
	const writers, per = 8, 200
	seqs := make([][]events.Event, writers)
	var wg sync.WaitGroup
	for w := range writers {
		seqs[w] = sinktest.Stream(fmt.Sprintf("cam-%d", w), per)
		wg.Go(func() {
			for i := 0; i < per; i += 3 {
				if err := b.Write(context.Background(), seqs[w][i:min(i+3, per)]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Flap the destination while the writers run.
	for range 5 {
		mem.setDown(true)
		time.Sleep(5 * time.Millisecond)
		mem.setDown(false)
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	byStream := map[string][]events.Event{}
	for _, ev := range mem.received() {
		byStream[ev.Data.Stream] = append(byStream[ev.Data.Stream], ev)
	}
	for w := range writers {
		sameOrder(t, byStream[fmt.Sprintf("cam-%d", w)], seqs[w])
	}
	checkInvariant(t, b.Stats())
}

func TestBufferedLogsErrorsAsPeriodicTotals(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	mem := &memSink{down: true}
	cfg := fastConfig("mem", 100)
	cfg.BackoffMax = time.Millisecond
	cfg.LogInterval = time.Hour
	cfg.Logger = logger
	b := sink.NewBuffered(mem, cfg)
	if err := b.Write(context.Background(), sinktest.Stream("cam", 50)); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return b.Stats().Errors >= 50 }, testutil.Says("50 failed attempts"))
	mem.setDown(false)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if n := strings.Count(out, "sink delivery failing"); n != 1 {
		t.Errorf("%d failure lines for %d failed attempts in one interval, want 1:\n%s", n, b.Stats().Errors, out)
	}
	if !strings.Contains(out, "sink delivery resumed") || !strings.Contains(out, "component=sink") || !strings.Contains(out, "sink=mem") {
		t.Errorf("missing recovery line or attributes:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestFanoutOneDownSinkDoesNotHoldBackTheOthers(t *testing.T) {
	sinktest.CheckGoroutines(t)
	down, up := &memSink{down: true}, &memSink{}
	f := sink.NewFanout(
		sink.NewBuffered(down, fastConfig("down", 100)),
		sink.NewBuffered(up, fastConfig("up", 100)),
	)
	evs := sinktest.Stream("cam", 60)
	for i := 0; i < len(evs); i += 6 {
		if err := f.Write(context.Background(), evs[i:i+6]); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return len(up.received()) == len(evs) }, testutil.Says("healthy sink to receive all"))
	if n := len(down.received()); n != 0 {
		t.Fatalf("down sink received %d", n)
	}
	stats := f.Stats()
	if len(stats) != 2 || stats[0].Name != "down" || stats[0].Buffered != 60 || stats[1].Delivered != 60 {
		t.Fatalf("stats: %+v", stats)
	}
	down.setDown(false)
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameOrder(t, down.received(), evs)
	sameOrder(t, up.received(), evs)
	if got := sink.AllStats(f); len(got) != 2 || got[0].Delivered != 60 {
		t.Fatalf("AllStats: %+v", got)
	}
}

func TestBufferedLogsBackPressureAsPeriodicTotals(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	mem := &memSink{down: true}
	cfg := fastConfig("mem", 4)
	cfg.LogInterval = time.Hour
	cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	b := sink.NewBuffered(mem, cfg)
	evs := sinktest.Stream("cam", 24)
	if err := b.Write(context.Background(), evs[:4]); err != nil {
		t.Fatal(err)
	}
	// Twenty writers block on the full buffer while the sink is down.
	var wg sync.WaitGroup
	for i := 4; i < 24; i++ {
		wg.Go(func() {
			if err := b.Write(context.Background(), evs[i:i+1]); err != nil {
				t.Error(err)
			}
		})
	}
	sinktest.WaitFor(t, "writers to block", func() bool { return b.Stats().BlockedWrites == 20 })
	mem.setDown(false)
	wg.Wait()
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if n := strings.Count(out, "sink buffer full"); n != 1 {
		t.Fatalf("%d back-pressure lines for 20 blocked writes in one interval, want 1:\n%s", n, out)
	}
	if st := b.Stats(); st.Delivered != 24 || st.BlockedWrites != 20 {
		t.Fatalf("stats: %+v", st)
	}
}
