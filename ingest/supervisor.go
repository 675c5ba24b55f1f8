package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Down reasons passed to SupervisorConfig.OnDown.
const (
	ReasonEnd      = "end of input"
	ReasonShutdown = "shutdown"
)

// SupervisorConfig configures a Supervisor. Zero values take the defaults noted per field.
type SupervisorConfig struct {
	Stream string // for logs
	// MinBackoff is the first retry delay; it doubles per consecutive failure up to
	// MaxBackoff (0 = DefaultBackoff's).
	MinBackoff, MaxBackoff time.Duration
	// Jitter spreads each delay uniformly over ±Jitter of itself so cameras that dropped together
	// do not reconnect in lockstep (default 0.2; negative disables).
	Jitter float64
	// ResetAfter: a run that stayed up at least this long resets the backoff and the attempt
	// count (default 10s).
	ResetAfter time.Duration
	// MaxAttempts bounds consecutive failed runs: after that many, Run stops retrying and returns
	// the last error wrapped in ErrGaveUp (1: one try, whose error is returned as it is). 0
	// retries forever (right for a camera).
	MaxAttempts int
	// OnUp is called when a (re)started source delivers its first packet. OnDown is called when
	// a source that was up stops, with a short human reason (credentials redacted) and the error
	// (nil at end of input). Both run on the supervising goroutine and must not block for long.
	OnUp   func()
	OnDown func(reason string, err error)
	// OnRetry is called before each backoff wait, also while the source never came up (a
	// camera that refuses connections), for metrics.
	OnRetry func(attempt int, delay time.Duration, err error)
	Logger  *slog.Logger
}

// Supervisor runs a Source and restarts it after failures with capped exponential backoff and
// jitter. It never restarts after a clean end of input, a permanent error or cancellation.
type Supervisor struct {
	cfg      SupervisorConfig
	restarts atomic.Int64
	attempts atomic.Int64 // consecutive failed runs, as counted for backoff
	up       atomic.Bool
	mu       sync.Mutex
	lastErr  error
}

// LastError is the error of the most recent failed run (nil if none yet); for status pages.
func (s *Supervisor) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// NewSupervisor returns a Supervisor with defaults applied.
func NewSupervisor(cfg SupervisorConfig) *Supervisor {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultBackoff().Initial.D()
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultBackoff().Max.D()
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = 0.2
	}
	if cfg.Jitter < 0 || cfg.Jitter >= 1 {
		cfg.Jitter = 0
	}
	if cfg.ResetAfter <= 0 {
		cfg.ResetAfter = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Logger = cfg.Logger.With("component", "ingest", "stream", cfg.Stream)
	return &Supervisor{cfg: cfg}
}

// Restarts is how many times the source was restarted after a failure.
func (s *Supervisor) Restarts() int64 { return s.restarts.Load() }

// Attempts is how many runs in a row have failed (0 once a run stays up for ResetAfter).
func (s *Supervisor) Attempts() int64 { return s.attempts.Load() }

// Up reports whether the source is currently delivering packets.
func (s *Supervisor) Up() bool { return s.up.Load() }

// Backoff returns the delay before retry number n (0-based) without jitter.
func (s *Supervisor) Backoff(n int) time.Duration {
	d := s.cfg.MinBackoff
	for i := 0; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

func (s *Supervisor) jittered(d time.Duration) time.Duration {
	if s.cfg.Jitter == 0 {
		return d
	}
	f := 1 + s.cfg.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// Run runs src until ctx is cancelled (returns ctx.Err()), the source ends cleanly (returns
// nil), fails permanently (returns that error) or fails MaxAttempts times in a row (returns
// the last error wrapped in ErrGaveUp). emit is passed through to the source. Run logs no
// final failure above Info: the caller, who gets the error, reports it.
func (s *Supervisor) Run(ctx context.Context, src Source, emit func(Packet) error) error {
	failures := 0
	for {
		var wentUp time.Time
		wrapped := func(p Packet) error {
			if wentUp.IsZero() {
				wentUp = time.Now()
				s.up.Store(true)
				s.cfg.Logger.Info("stream up")
				if s.cfg.OnUp != nil {
					s.cfg.OnUp()
				}
			}
			return emit(p)
		}
		err := src.Run(ctx, wrapped)
		wasUp := !wentUp.IsZero()
		s.up.Store(false)
		if wasUp && time.Since(wentUp) >= s.cfg.ResetAfter {
			failures = 0
			s.attempts.Store(0)
		}

		var reason string
		switch {
		case ctx.Err() != nil:
			reason = ReasonShutdown
		case err == nil:
			reason = ReasonEnd
		default:
			reason = err.Error()
		}
		if wasUp {
			s.cfg.Logger.Info("stream down", "reason", reason)
			if s.cfg.OnDown != nil {
				s.cfg.OnDown(reason, err)
			}
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			return nil
		}

		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		failures++
		s.attempts.Store(int64(failures))
		if errors.Is(err, ErrPermanent) {
			s.cfg.Logger.Info("source failed permanently", "err", err)
			return err
		}
		if s.cfg.MaxAttempts > 0 && failures >= s.cfg.MaxAttempts {
			s.cfg.Logger.Info("giving up", "err", err, "attempts", failures)
			if s.cfg.MaxAttempts == 1 {
				return err
			}
			return fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, failures, err)
		}
		delay := s.jittered(s.Backoff(failures - 1))
		if s.cfg.OnRetry != nil {
			s.cfg.OnRetry(failures, delay, err)
		}
		s.cfg.Logger.Warn("source failed, retrying", "err", err, "retry_in", delay.Round(time.Millisecond), "attempt", failures)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		s.restarts.Add(1)
	}
}
