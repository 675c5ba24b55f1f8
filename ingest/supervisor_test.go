package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeSource plays a script: each Run takes the next step (packets to emit, then the error).
type fakeSource struct {
	mu    sync.Mutex
	steps []step
	calls []time.Time
}

type step struct {
	packets int
	hold    time.Duration // stay up this long after the packets
	err     error
}

func (f *fakeSource) Run(ctx context.Context, emit func(Packet) error) error {
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	if len(f.steps) == 0 {
		f.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	f.mu.Unlock()
	for i := 0; i < s.packets; i++ {
		if err := emit(Packet{PTS: time.Duration(i)}); err != nil {
			return fmt.Errorf("fake: %w", err)
		}
	}
	if s.hold > 0 {
		select {
		case <-time.After(s.hold):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.err
}

func TestBackoffCapped(t *testing.T) {
	s := NewSupervisor(SupervisorConfig{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := s.Backoff(i); got != w*time.Millisecond {
			t.Errorf("Backoff(%d) = %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if got := s.Backoff(1000); got != time.Second {
		t.Errorf("Backoff(1000) = %v", got)
	}
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		d := s.jittered(time.Second)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 800*time.Millisecond || hi > 1200*time.Millisecond || hi-lo < 300*time.Millisecond {
		t.Errorf("jitter range [%v, %v], want spread within ±20%%", lo, hi)
	}
}

// The supervisor tests run in a synctest bubble: time is virtual, so backoffs are asserted
// exactly and no test sleeps for real.

func TestSupervisorRestartsWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("connection refused")
		src := &fakeSource{steps: []step{
			{err: boom}, {err: boom}, {err: boom}, // never up
			{packets: 3, err: errors.New("rtsp://u:pw@cam/1: broken pipe")}, // up, then down
			{packets: 2}, // up, then clean end
		}}
		var events []string
		var retries []int
		var delays []time.Duration
		s := NewSupervisor(SupervisorConfig{MinBackoff: 20 * time.Millisecond, MaxBackoff: 60 * time.Millisecond, Jitter: -1,
			OnRetry: func(n int, d time.Duration, err error) { retries = append(retries, n); delays = append(delays, d) },
			OnUp:    func() { events = append(events, "up") },
			OnDown:  func(r string, err error) { events = append(events, "down:"+r) }})
		got := 0
		if err := s.Run(context.Background(), src, func(Packet) error { got++; return nil }); err != nil {
			t.Fatal(err)
		}
		if got != 5 || s.Restarts() != 4 || len(retries) != 4 || retries[3] != 4 || s.Attempts() != 4 {
			t.Errorf("packets %d restarts %d retries %v attempts %d", got, s.Restarts(), retries, s.Attempts())
		}
		if e := s.LastError(); e == nil || !strings.Contains(e.Error(), "broken pipe") {
			t.Errorf("LastError %v", e)
		}
		want := []string{"up", "down:rtsp://u:pw@cam/1: broken pipe", "up", "down:" + ReasonEnd}
		if strings.Join(events, "|") != strings.Join(want, "|") {
			t.Errorf("events %q, want %q", events, want)
		}
		// Delays double from 20 ms and cap at 60 ms; each restart comes exactly its delay later.
		wantGaps := []time.Duration{20, 40, 60, 60}
		for i, w := range wantGaps {
			if i >= len(delays) || delays[i] != w*time.Millisecond {
				t.Fatalf("delays %v, want %v ms", delays, wantGaps)
			}
			if gap := src.calls[i+1].Sub(src.calls[i]); gap != w*time.Millisecond {
				t.Errorf("retry %d after %v, want %v", i, gap, w*time.Millisecond)
			}
		}
	})
}

func TestSupervisorResetsBackoffAfterLongRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		src := &fakeSource{steps: []step{{err: boom}, {err: boom}, {packets: 1, hold: 60 * time.Millisecond, err: boom}, {err: boom}}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var delays []time.Duration
		var attempts []int64
		var s *Supervisor
		s = NewSupervisor(SupervisorConfig{MinBackoff: 10 * time.Millisecond, MaxBackoff: time.Second, Jitter: -1, ResetAfter: 50 * time.Millisecond,
			MaxAttempts: 3, // never reached: the long run resets the count
			OnRetry: func(_ int, d time.Duration, _ error) {
				delays = append(delays, d)
				attempts = append(attempts, s.Attempts())
				if len(delays) == 4 {
					cancel()
				}
			}})
		if err := s.Run(ctx, src, func(Packet) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		// 10, 20, then the run that stayed up 60 ms (>= ResetAfter) resets: 10, 20 again.
		want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}
		if fmt.Sprint(delays) != fmt.Sprint(want) || fmt.Sprint(attempts) != "[1 2 1 2]" {
			t.Errorf("delays %v (want %v), attempts %v (want [1 2 1 2])", delays, want, attempts)
		}
	})
}

// TestSupervisorGivesUp: with MaxAttempts the source is tried that many times, with the backoff
// between tries and none after the last, then Run returns the last error wrapped in ErrGaveUp.
func TestSupervisorGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := errors.New("dial tcp 127.0.0.1:1: connection refused")
		src := &fakeSource{steps: []step{{err: refused}, {err: refused}, {err: refused}, {packets: 1}}}
		s := NewSupervisor(SupervisorConfig{MinBackoff: 500 * time.Millisecond, MaxBackoff: 4 * time.Second, Jitter: -1, MaxAttempts: 3})
		start := time.Now()
		err := s.Run(context.Background(), src, func(Packet) error { return nil })
		if !errors.Is(err, ErrGaveUp) || !errors.Is(err, refused) {
			t.Fatalf("err = %v, want ErrGaveUp wrapping the last error", err)
		}
		if want := "gave up after 3 attempts: dial tcp 127.0.0.1:1: connection refused"; err.Error() != want {
			t.Errorf("message %q, want %q", err, want)
		}
		if d := time.Since(start); d != 1500*time.Millisecond || len(src.calls) != 3 {
			t.Errorf("%d calls over %v, want 3 over 1.5s (0.5 + 1 s of backoff)", len(src.calls), d)
		}
		if s.Attempts() != 3 || s.Restarts() != 2 || !errors.Is(s.LastError(), refused) {
			t.Errorf("attempts %d restarts %d last error %v", s.Attempts(), s.Restarts(), s.LastError())
		}
		// One attempt: no retry, no wait, and the error as the source returned it.
		src = &fakeSource{steps: []step{{err: refused}, {packets: 1}}}
		s = NewSupervisor(SupervisorConfig{MaxAttempts: 1})
		start = time.Now()
		if err := s.Run(context.Background(), src, func(Packet) error { return nil }); err != refused || len(src.calls) != 1 || time.Since(start) != 0 {
			t.Errorf("one attempt: err %v after %d calls and %v", err, len(src.calls), time.Since(start))
		}
	})
}

func TestSupervisorStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Permanent errors are not retried, and are kept as the last error.
		src := &fakeSource{steps: []step{{err: fmt.Errorf("bad codec: %w", ErrPermanent)}}}
		s := NewSupervisor(SupervisorConfig{MinBackoff: time.Millisecond, MaxAttempts: 5})
		if err := s.Run(context.Background(), src, func(Packet) error { return nil }); !errors.Is(err, ErrPermanent) || errors.Is(err, ErrGaveUp) || len(src.calls) != 1 {
			t.Errorf("permanent: err %v after %d calls", err, len(src.calls))
		}
		if !errors.Is(s.LastError(), ErrPermanent) || s.Attempts() != 1 {
			t.Errorf("permanent: last error %v, attempts %d", s.LastError(), s.Attempts())
		}
		// Cancellation during a long backoff returns when the context ends, not after the backoff.
		src = &fakeSource{steps: []step{{err: errors.New("x")}}}
		s = NewSupervisor(SupervisorConfig{MinBackoff: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := s.Run(ctx, src, func(Packet) error { return nil }); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 50*time.Millisecond {
			t.Errorf("cancel in backoff: %v after %v", err, time.Since(start))
		}
		// Shutdown of a running source reports down with the shutdown reason.
		var reason string
		src = &fakeSource{steps: []step{{packets: 1, hold: time.Hour}}}
		s = NewSupervisor(SupervisorConfig{OnDown: func(r string, _ error) { reason = r }})
		ctx, cancel = context.WithCancel(context.Background())
		err := s.Run(ctx, src, func(Packet) error { cancel(); return nil })
		if !errors.Is(err, context.Canceled) || reason != ReasonShutdown || s.Up() {
			t.Errorf("shutdown: err %v reason %q up %v", err, reason, s.Up())
		}
	})
}

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"rtsp://admin:s3cret@10.0.0.1:554/stream": "rtsp://admin:xxxxx@10.0.0.1:554/stream",
		"rtsp://10.0.0.1/stream":                  "rtsp://10.0.0.1/stream",
		"rtsp://cam/x?user=a&password=p":          "rtsp://cam/x?password=xxxxx&user=a",
		"/videos/a.mp4":                           "/videos/a.mp4",
		"rtsp://ad min:p w@cam/%zz":               "rtsp://xxxxx@cam/%zz",
		"rtsp://user@cam/1":                       "rtsp://user@cam/1",
	}
	for in, want := range cases {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	msg := RedactIn("open rtsp://admin:s3cret@cam/1 failed (s3cret)", "rtsp://admin:s3cret@cam/1")
	if strings.Contains(msg, "s3cret") {
		t.Errorf("RedactIn left the password: %q", msg)
	}
}
