package infer

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/actionstream/actionstream/clipper"
)

// Result is the outcome of one clip: the scored clip and how the batch that scored it went.
type Result struct {
	ScoredClip
	InferLatency time.Duration // duration of the model call that scored this clip's batch
	QueueDelay   time.Duration // from Submit (of the clip it replaced, if any) to the batch start
	BatchSize    int
	// Err is the model call's error: the clip was taken into a batch but not scored (Scores
	// is nil). Reported so a caller waiting for a stream's result is never stranded.
	Err error
}

// BatcherStats are cumulative counters, safe to read at any time.
type BatcherStats struct {
	Submitted uint64 // clips accepted by Submit
	Rejected  uint64 // clips refused by Submit (wrong shape, batcher closed)
	Dropped   uint64 // stale: clips pushed out of a stream's full queue by a newer one
	Scored    uint64 // clips delivered as Results
	Failed    uint64 // clips lost to a failed model call
	Batches   uint64 // model calls, successful or not
	Errors    uint64 // failed model calls
	Pending   int    // clips waiting now (at most MaxPending per stream)
	// BatchSizes[n] counts the model calls of n clips; len = MaxBatch+1.
	BatchSizes []uint64
	// InferTotal is the summed duration of model calls; InferMax the longest.
	InferTotal, InferMax time.Duration
	// DroppedByStream is Dropped split per stream.
	DroppedByStream map[string]uint64
}

// pending is a slot in the queue holding one waiting clip. When a stream's queue is full,
// its clips move up one slot (the oldest is dropped) and each slot keeps the arrival time
// of the first clip it held, so a stream whose clips keep replacing each other still gets
// its turn within MaxWait, and a stream's clips stay in order.
type pending struct {
	clip    *clipper.Clip
	arrived time.Time
}

// Batcher is one dynamic batcher in front of a model Backend, shared by all streams. Each
// stream has up to MaxPending clips waiting; past that the oldest is dropped (stale). Run owns
// the model calls and delivers Results to the handler.
type Batcher struct {
	backend    Backend
	info       BackendInfo
	scorer     *Scorer
	clipLen    int
	maxBatch   int
	maxPending int
	maxWait    time.Duration
	workers    int
	nice       int
	streams    int // streams that can submit (SetStreams); guarded by mu
	onBatch    func(int, time.Duration, error)
	handle     func(Result)
	log        *slog.Logger

	kick chan struct{} // capacity 1: "the queue changed"; a worker that leaves clips passes it on

	mu       sync.Mutex
	queue    []*pending            // arrival order
	byStream map[string][]*pending // each stream's slots, in queue order
	free     []*pending
	state    int // batcherIdle, batcherRunning, batcherClosed
	stats    BatcherStats
	lastErr  time.Time
	// taken numbers the batches in the order workers took them; delivered is how many have
	// had their results handled. Results are handed over only on their batch's turn.
	taken, delivered uint64
	turn             *sync.Cond           // on mu: delivered moved
	parked           map[uint64]*delivery // scored batches waiting for their turn, by ticket

	own worker // the Run goroutine's
}

// worker is one model-calling goroutine's reusable buffers.
type worker struct {
	input []float32 // [callBatch][3][T][S][S]
	batch []*pending
}

const (
	batcherIdle = iota
	batcherRunning
	batcherClosed
)

// NewBatcher makes a batcher in front of be (an open *Model, or a remote backend). handle is
// called from the batcher's workers, one call at a time, one Result per clip taken into a
// batch, in the order the batches were taken (Err set when the model call failed); while it
// blocks, no further results are handled and no worker takes another batch once Workers scored
// batches wait behind it (back-pressure reaches Submit only as stale drops, never as blocking).
func NewBatcher(be Backend, cfg BatcherConfig, handle func(Result)) (*Batcher, error) {
	if be == nil || handle == nil {
		return nil, fmt.Errorf("%w: batcher needs a model and a result handler", ErrBadOptions)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: batcher: %w", ErrBadOptions, err)
	}
	info := be.Info()
	scorer, err := NewScorer(info, cfg.Detection)
	if err != nil {
		return nil, err
	}
	if info.MaxBatch > 0 && cfg.MaxBatch > info.MaxBatch {
		cfg.MaxBatch = info.MaxBatch
	}
	callBatch := cfg.MaxBatch
	if info.MaxBatch > 0 {
		callBatch = info.MaxBatch
	}
	b := &Batcher{
		backend:    be,
		info:       info,
		clipLen:    info.Meta.ClipLen(),
		scorer:     scorer,
		maxBatch:   cfg.MaxBatch,
		maxPending: cfg.MaxPending,
		maxWait:    cfg.MaxWait.D(),
		workers:    cfg.Workers,
		nice:       cfg.Nice,
		onBatch:    cfg.OnBatch,
		handle:     handle,
		log:        cfg.Logger.With("component", "batcher", "model", info.Meta.Name),
		kick:       make(chan struct{}, 1),
		byStream:   map[string][]*pending{},
		own:        worker{input: make([]float32, callBatch*info.Meta.ClipLen()), batch: make([]*pending, 0, cfg.MaxBatch)},
	}
	b.turn = sync.NewCond(&b.mu)
	b.parked = map[uint64]*delivery{}
	b.stats.BatchSizes = make([]uint64, cfg.MaxBatch+1)
	b.stats.DroppedByStream = map[string]uint64{}
	return b, nil
}

// MaxBatch is the effective batch limit.
func (b *Batcher) MaxBatch() int { return b.maxBatch }

// Workers is how many model calls may run at once.
func (b *Batcher) Workers() int { return b.workers }

// Submit queues c for scoring and takes ownership of it: the batcher Releases it once
// its tensor is copied into a batch, or at once when it is dropped or refused. If the
// stream already has MaxPending clips waiting, the oldest of them is dropped (counted as
// stale) and the others move up, so a stream's clips are scored in order. Submit never
// blocks on inference. It fails with ErrClipShape for a clip that does not match the model,
// and ErrClosed after Run has returned.
func (b *Batcher) Submit(c *clipper.Clip) error {
	if c == nil {
		return fmt.Errorf("%w: nil clip", ErrClipShape)
	}
	meta := b.info.Meta
	if c.Frames != meta.Frames || c.Size != meta.CropSize || len(c.Tensor) != b.clipLen {
		err := fmt.Errorf("%w: stream %s clip %d is T=%d S=%d with %d values, model %s wants T=%d S=%d (%d values)",
			ErrClipShape, c.Stream, c.Seq, c.Frames, c.Size, len(c.Tensor), meta.Name,
			meta.Frames, meta.CropSize, b.clipLen)
		b.mu.Lock()
		b.stats.Rejected++
		b.mu.Unlock()
		c.Release()
		return err
	}
	var old *clipper.Clip
	b.mu.Lock()
	if b.state == batcherClosed {
		b.stats.Rejected++
		b.mu.Unlock()
		c.Release()
		return ErrClosed
	}
	b.stats.Submitted++
	if slots := b.byStream[c.Stream]; len(slots) >= b.maxPending {
		old = slots[0].clip
		for i := range len(slots) - 1 {
			slots[i].clip = slots[i+1].clip
		}
		slots[len(slots)-1].clip = c
		b.stats.Dropped++
		b.stats.DroppedByStream[c.Stream]++
	} else {
		p := b.newPending()
		p.clip, p.arrived = c, time.Now()
		b.queue = append(b.queue, p)
		b.byStream[c.Stream] = append(slots, p)
	}
	n, full := len(b.queue), b.fullLocked()
	b.mu.Unlock()
	if old != nil {
		old.Release()
	}
	// The first clip arms the MaxWait timer; a full batch flushes now.
	if n == 1 || n >= full {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// SetStreams tells the batcher how many streams can submit clips (0 = unknown). With fewer
// streams than MaxBatch, a batch is complete once every stream has a clip waiting: no other
// clip can come, so waiting out MaxWait would only add latency (one camera: no wait at all).
func (b *Batcher) SetStreams(n int) {
	b.mu.Lock()
	b.streams = max(n, 0)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// fullLocked is the queue length that flushes at once; b.mu is held.
func (b *Batcher) fullLocked() int {
	if b.streams > 0 && b.streams < b.maxBatch {
		return b.streams
	}
	return b.maxBatch
}

func (b *Batcher) newPending() *pending {
	if n := len(b.free); n > 0 {
		p := b.free[n-1]
		b.free = b.free[:n-1]
		return p
	}
	return &pending{}
}

// Run scores batches until ctx is done, then refuses new clips, flushes every clip
// still waiting (in batches of MaxBatch) and returns nil. It returns an error only
// when called twice. It makes Workers-1 more goroutines that call the model alongside it.
func (b *Batcher) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.state != batcherIdle {
		b.mu.Unlock()
		return ErrBatcherRunning
	}
	b.state = batcherRunning
	b.mu.Unlock()

	var wg sync.WaitGroup
	for range b.workers - 1 {
		w := &worker{input: make([]float32, len(b.own.input)), batch: make([]*pending, 0, b.maxBatch)}
		wg.Go(func() { b.work(ctx, w) })
	}
	if b.nice > 0 { // on a goroutine of its own: a thread whose nice was raised cannot lower it again
		wg.Go(func() { b.work(ctx, &b.own) })
	} else {
		b.work(ctx, &b.own)
	}
	wg.Wait()

	b.mu.Lock()
	b.state = batcherClosed
	left := len(b.queue)
	b.mu.Unlock()
	if left > 0 {
		b.log.Info("flushing pending clips on shutdown", "clips", left)
	}
	for b.flush(ctx, &b.own) > 0 {
	}
	return nil
}

// work is one worker's loop: take a batch when one is full or its oldest clip has waited
// MaxWait, score it, repeat until ctx is done.
func (b *Batcher) work(ctx context.Context, w *worker) {
	if b.nice > 0 {
		// The thread stays this goroutine's and ends with it, so the nice value goes nowhere else.
		runtime.LockOSThread()
		if err := lowerThreadPriority(b.nice); err != nil {
			b.log.Debug("model calls keep the default priority", "err", err)
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		b.mu.Lock()
		n, full := len(b.queue), b.fullLocked()
		wait := time.Duration(-1)
		if n > 0 && n < full {
			wait = time.Until(b.queue[0].arrived.Add(b.maxWait))
		}
		b.mu.Unlock()
		if n >= full || (n > 0 && wait <= 0) {
			b.flush(ctx, w)
			if ctx.Err() == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
		case <-b.kick:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// flush scores up to maxBatch of the oldest waiting clips and returns how many it took. With
// several workers it takes an even share of the queue, rounded down (at least one), so the
// others have clips to call on.
func (b *Batcher) flush(ctx context.Context, w *worker) int {
	clipLen := b.clipLen
	b.mu.Lock()
	k := min(len(b.queue), b.maxBatch)
	if b.workers > 1 {
		k = min(k, max(len(b.queue)/b.workers, 1))
	}
	w.batch = append(w.batch[:0], b.queue[:k]...)
	rest := copy(b.queue, b.queue[k:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	ticket := b.taken
	if k > 0 {
		b.taken++
	}
	for _, p := range w.batch {
		// The queue is in arrival order, so a stream's taken slots are its first ones.
		id := p.clip.Stream
		if slots := b.byStream[id]; len(slots) > 1 {
			n := copy(slots, slots[1:])
			slots[n] = nil
			b.byStream[id] = slots[:n]
		} else {
			delete(b.byStream, id)
		}
	}
	b.mu.Unlock()
	if k == 0 {
		return 0
	}
	if rest > 0 && b.workers > 1 {
		select { // another worker may take the rest
		case b.kick <- struct{}{}:
		default:
		}
	}

	// Copy the tensors in and give them back to their pools before the (long) model call;
	// the clip headers stay readable after Release.
	start := time.Now()
	for i, p := range w.batch {
		copy(w.input[i*clipLen:(i+1)*clipLen], p.clip.Tensor)
		p.clip.Release()
	}
	callN := k
	if fixed := b.info.MaxBatch; fixed > 0 {
		callN = fixed // fixed-N model: rows past k are stale padding, their outputs ignored
	}
	// A batch taken is scored even when shutdown has begun; a remote backend bounds the
	// call by its own timeout.
	outs, err := b.backend.Infer(context.WithoutCancel(ctx), w.input[:callN*clipLen], callN)
	if err == nil {
		err = b.scorer.Check(outs, k, b.info.Where)
	}
	infer := time.Since(start)

	b.mu.Lock()
	b.stats.Batches++
	b.stats.BatchSizes[k]++
	b.stats.InferTotal += infer
	b.stats.InferMax = max(b.stats.InferMax, infer)
	logNow := false
	if err != nil {
		b.stats.Errors++
		b.stats.Failed += uint64(k)
		// One line per 10 s at most; the count is in Stats.
		if time.Since(b.lastErr) > 10*time.Second {
			b.lastErr, logNow = time.Now(), true
		}
	}
	nErr, nFailed := b.stats.Errors, b.stats.Failed
	b.mu.Unlock()

	// Score now, from this worker's output buffers, so that the worker is free for its next
	// call whatever the delivery order: a batch finished before an earlier one (two calls at
	// once, one of them sharing a core with the decoder) is parked, not waited on.
	d := &delivery{infer: infer, err: err, logNow: logNow, nErr: nErr, nFailed: nFailed, results: make([]Result, k)}
	for i, p := range w.batch {
		c := p.clip
		r := &d.results[i]
		*r = Result{
			ScoredClip: ScoredClip{
				Stream: c.Stream, Seq: c.Seq, Start: c.Start, End: c.End, StartWall: c.StartWall, EndWall: c.EndWall,
				Labels: b.info.Meta.Labels, Model: b.info.Meta.Name, ModelDigest: b.info.Digest, Key: c.Key,
			},
			InferLatency: infer,
			QueueDelay:   start.Sub(p.arrived),
			BatchSize:    k,
			Err:          err,
		}
		if err == nil {
			if serr := b.scorer.Score(outs, i, c, &r.ScoredClip); serr != nil {
				r.Err, r.Scores, r.Actors = serr, nil, nil
			}
		}
		p.clip = nil
	}
	b.mu.Lock()
	b.free = append(b.free, w.batch...)
	clear(w.batch)
	// While results wait, at most Workers batches are parked: a handler that blocks holds
	// the workers back (back-pressure) instead of letting results pile up.
	for b.delivered != ticket && len(b.parked) >= b.workers {
		b.turn.Wait()
	}
	b.parked[ticket] = d
	// The worker whose batch is next delivers it and every parked batch after it, in order.
	if b.delivered == ticket {
		for {
			next, ok := b.parked[b.delivered]
			if !ok {
				break
			}
			delete(b.parked, b.delivered)
			b.mu.Unlock()
			b.deliver(next)
			b.mu.Lock()
			b.delivered++
			b.turn.Broadcast()
		}
	}
	b.mu.Unlock()
	return k
}

// delivery is one scored batch waiting for its turn to be handed over.
type delivery struct {
	infer         time.Duration
	err           error
	logNow        bool
	nErr, nFailed uint64
	results       []Result
}

// deliver hands one batch's results to the handler; one delivery at a time, in ticket order.
func (b *Batcher) deliver(d *delivery) {
	if b.onBatch != nil {
		b.onBatch(len(d.results), d.infer, d.err)
	}
	if d.logNow {
		b.log.Error("model call failed, clips lost", "err", d.err, "batch", len(d.results), "failed_calls_total", d.nErr, "clips_lost_total", d.nFailed)
	}
	for _, r := range d.results {
		b.handle(r)
	}
	if d.err == nil {
		b.mu.Lock()
		b.stats.Scored += uint64(len(d.results))
		b.mu.Unlock()
	}
}

// Stats returns a snapshot of the counters.
func (b *Batcher) Stats() BatcherStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.Pending = len(b.queue)
	s.BatchSizes = append([]uint64(nil), b.stats.BatchSizes...)
	s.DroppedByStream = make(map[string]uint64, len(b.stats.DroppedByStream))
	for k, v := range b.stats.DroppedByStream {
		s.DroppedByStream[k] = v
	}
	return s
}
