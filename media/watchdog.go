package media

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
)

// watchdog interrupts FFmpeg's blocking calls when ctx is cancelled or the input makes no
// progress for the open timeout (until opened) or the stall timeout (after). Its goroutine is
// owned by the demuxer, which stops it and waits before closing the input.
type watchdog struct {
	interrupter       astiav.IOInterrupter
	openLimit, stallL time.Duration
	// last is the unix nanos of the last progress, or holding while the demuxer itself holds
	// up reading (emit blocking, pacing).
	last             atomic.Int64
	isOpen, didStall atomic.Bool
	quit, done       chan struct{}
}

const holding = int64(1<<63 - 1)

func startWatchdog(ctx context.Context, in astiav.IOInterrupter, openTimeout, stallTimeout time.Duration) *watchdog {
	w := &watchdog{interrupter: in, openLimit: openTimeout, stallL: stallTimeout,
		quit: make(chan struct{}), done: make(chan struct{})}
	w.progress()
	go w.run(ctx)
	return w
}

func (w *watchdog) run(ctx context.Context) {
	defer close(w.done)
	period := 100 * time.Millisecond
	if t := min(nonZero(w.openLimit), nonZero(w.stallL)) / 5; t < period && t > 0 {
		period = max(t, 10*time.Millisecond)
	}
	// Without timeouts (a file read as fast as it decodes) there is nothing to poll: only
	// cancellation interrupts, and no ticker wakes the process ten times a second.
	var ticks <-chan time.Time
	if w.openLimit > 0 || w.stallL > 0 {
		tick := time.NewTicker(period)
		defer tick.Stop()
		ticks = tick.C
	}
	for {
		select {
		case <-w.quit:
			return
		case <-ctx.Done():
			w.interrupter.Interrupt()
			return
		case now := <-ticks:
			if limit := w.limit(); limit > 0 && now.UnixNano()-w.last.Load() > int64(limit) {
				w.didStall.Store(true)
				w.interrupter.Interrupt()
				return
			}
		}
	}
}

func (w *watchdog) limit() time.Duration {
	if w.isOpen.Load() {
		return w.stallL
	}
	return w.openLimit
}

func (w *watchdog) progress() { w.last.Store(time.Now().UnixNano()) }
func (w *watchdog) hold()     { w.last.Store(holding) }
func (w *watchdog) opened()   { w.isOpen.Store(true); w.progress() }

// stalled reports whether the watchdog interrupted for lack of progress, and the limit.
func (w *watchdog) stalled() (time.Duration, bool) { return w.limit(), w.didStall.Load() }

// stop ends the goroutine and waits for it. Idempotent.
func (w *watchdog) stop() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
}

func nonZero(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Duration(1<<63 - 1)
	}
	return d
}
