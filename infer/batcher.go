package infer

import (
	"context"
	"fmt"
	"log/slog"
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
	Dropped   uint64 // clips replaced by a newer clip of the same stream while waiting
	Scored    uint64 // clips delivered as Results
	Failed    uint64 // clips lost to a failed model call
	Batches   uint64 // model calls, successful or not
	Errors    uint64 // failed model calls
	Pending   int    // clips waiting now (at most one per stream)
	// BatchSizes[n] counts the model calls of n clips; len = MaxBatch+1.
	BatchSizes []uint64
	// InferTotal is the summed duration of model calls; InferMax the longest.
	InferTotal, InferMax time.Duration
	// DroppedByStream is Dropped split per stream.
	DroppedByStream map[string]uint64
}

// pending is one stream's waiting clip. Its slot in the queue keeps the arrival of the
// first clip it held, so a stream whose clips keep replacing each other still gets a
// turn within MaxWait.
type pending struct {
	clip    *clipper.Clip
	arrived time.Time
}

// Batcher is one dynamic batcher in front of a model, shared by all streams. Submit is
// latest-wins per stream; Run owns the model calls and delivers Results to the handler.
type Batcher struct {
	model    *Model
	maxBatch int
	maxWait  time.Duration
	streams  int // streams that can submit (SetStreams); guarded by mu
	onBatch  func(int, time.Duration, error)
	handle   func(Result)
	log      *slog.Logger

	kick chan struct{} // capacity 1: "the queue changed"

	mu       sync.Mutex
	queue    []*pending // arrival order
	byStream map[string]*pending
	free     []*pending
	state    int // batcherIdle, batcherRunning, batcherClosed
	stats    BatcherStats
	lastErr  time.Time

	// Reused by the Run goroutine only.
	input []float32 // [maxBatch][3][T][S][S]
	out   *Outputs
	batch []*pending
}

const (
	batcherIdle = iota
	batcherRunning
	batcherClosed
)

// NewBatcher makes a batcher for m. handle is called from the Run goroutine, one Result
// per clip taken into a batch, in batch order (Err set when the model call failed); while it blocks, no further batch runs (back-pressure
// reaches Submit only as latest-wins drops, never as blocking).
func NewBatcher(m *Model, cfg BatcherConfig, handle func(Result)) (*Batcher, error) {
	if m == nil || handle == nil {
		return nil, fmt.Errorf("%w: batcher needs a model and a result handler", ErrBadOptions)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: batcher: %w", ErrBadOptions, err)
	}
	if m.MaxBatch() > 0 && cfg.MaxBatch > m.MaxBatch() {
		cfg.MaxBatch = m.MaxBatch()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	callBatch := cfg.MaxBatch
	if m.MaxBatch() > 0 {
		callBatch = m.MaxBatch()
	}
	b := &Batcher{
		model:    m,
		maxBatch: cfg.MaxBatch,
		maxWait:  cfg.MaxWait.D(),
		onBatch:  cfg.OnBatch,
		handle:   handle,
		log:      cfg.Logger.With("component", "batcher", "model", m.Meta.Name),
		kick:     make(chan struct{}, 1),
		byStream: map[string]*pending{},
		input:    make([]float32, callBatch*m.ClipLen()),
		out:      m.NewOutputs(callBatch),
		batch:    make([]*pending, 0, cfg.MaxBatch),
	}
	b.stats.BatchSizes = make([]uint64, cfg.MaxBatch+1)
	b.stats.DroppedByStream = map[string]uint64{}
	return b, nil
}

// MaxBatch is the effective batch limit.
func (b *Batcher) MaxBatch() int { return b.maxBatch }

// Submit queues c for scoring and takes ownership of it: the batcher Releases it once
// its tensor is copied into a batch, or at once when it is replaced or refused. If a
// clip of the same stream is still waiting, c replaces it (latest wins) and the old one
// is counted as dropped. Submit never blocks on inference. It fails with ErrClipShape
// for a clip that does not match the model, and ErrClosed after Run has returned.
func (b *Batcher) Submit(c *clipper.Clip) error {
	if c == nil {
		return fmt.Errorf("%w: nil clip", ErrClipShape)
	}
	if c.Frames != b.model.Meta.Frames || c.Size != b.model.Meta.CropSize || len(c.Tensor) != b.model.ClipLen() {
		err := fmt.Errorf("%w: stream %s clip %d is T=%d S=%d with %d values, model %s wants T=%d S=%d (%d values)",
			ErrClipShape, c.Stream, c.Seq, c.Frames, c.Size, len(c.Tensor), b.model.Meta.Name,
			b.model.Meta.Frames, b.model.Meta.CropSize, b.model.ClipLen())
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
	if p, ok := b.byStream[c.Stream]; ok {
		old, p.clip = p.clip, c
		b.stats.Dropped++
		b.stats.DroppedByStream[c.Stream]++
	} else {
		p := b.newPending()
		p.clip, p.arrived = c, time.Now()
		b.queue = append(b.queue, p)
		b.byStream[c.Stream] = p
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
// when called twice. Results are delivered on this goroutine.
func (b *Batcher) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.state != batcherIdle {
		b.mu.Unlock()
		return ErrBatcherRunning
	}
	b.state = batcherRunning
	b.mu.Unlock()

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
			b.flush()
			if ctx.Err() == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			break
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

	b.mu.Lock()
	b.state = batcherClosed
	left := len(b.queue)
	b.mu.Unlock()
	if left > 0 {
		b.log.Info("flushing pending clips on shutdown", "clips", left)
	}
	for b.flush() > 0 {
	}
	return nil
}

// flush scores up to maxBatch of the oldest waiting clips and returns how many it took.
func (b *Batcher) flush() int {
	clipLen := b.model.ClipLen()
	b.mu.Lock()
	k := min(len(b.queue), b.maxBatch)
	b.batch = append(b.batch[:0], b.queue[:k]...)
	rest := copy(b.queue, b.queue[k:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	for _, p := range b.batch {
		delete(b.byStream, p.clip.Stream)
	}
	b.mu.Unlock()
	if k == 0 {
		return 0
	}

	// Copy the tensors in and give them back to their pools before the (long) model call;
	// the clip headers stay readable after Release.
	start := time.Now()
	for i, p := range b.batch {
		copy(b.input[i*clipLen:(i+1)*clipLen], p.clip.Tensor)
		p.clip.Release()
	}
	callN := k
	if fixed := b.model.MaxBatch(); fixed > 0 {
		callN = fixed // fixed-N model: rows past k are stale padding, their logits ignored
	}
	err := b.model.RunOutputs(b.input, callN, b.out)
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
	if b.onBatch != nil {
		b.onBatch(k, infer, err)
	}
	if logNow {
		b.log.Error("model call failed, clips lost", "err", err, "batch", k, "failed_calls_total", nErr, "clips_lost_total", nFailed)
	}

	for i, p := range b.batch {
		c := p.clip
		r := Result{
			ScoredClip: ScoredClip{
				Stream: c.Stream, Seq: c.Seq, Start: c.Start, End: c.End, StartWall: c.StartWall, EndWall: c.EndWall,
				Labels: b.model.Meta.Labels, Model: b.model.Meta.Name, ModelDigest: b.model.Digest, Key: c.Key,
			},
			InferLatency: infer,
			QueueDelay:   start.Sub(p.arrived),
			BatchSize:    k,
			Err:          err,
		}
		if err == nil {
			if serr := b.model.ScoreClip(b.out, i, c, &r.ScoredClip); serr != nil {
				r.Err, r.Scores, r.Actors = serr, nil, nil
			}
		}
		b.handle(r)
		p.clip = nil
		b.batch[i] = nil
		b.mu.Lock()
		b.free = append(b.free, p)
		if err == nil {
			b.stats.Scored++
		}
		b.mu.Unlock()
	}
	return k
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
