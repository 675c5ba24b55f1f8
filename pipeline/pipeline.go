// Package pipeline wires the stages together: sources (ingest) feed per-stream decoders
// (decode), whose clippers (clipper) hand clips to one cross-stream batcher (infer); scored
// clips drive each stream's action lifecycle (events), and events go to the sinks (sink).
// It is the one package that knows every stage; cmd/actionstream only parses flags and calls it.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/kserve"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/sinks"
)

// Options configure a Pipeline beyond the config file.
type Options struct {
	Config configs.Config
	Logger *slog.Logger
	// OneShot scores every clip of every input as fast as possible and ends when all inputs
	// end (`actionstream run`): files are not paced, clips are never dropped for freshness,
	// and no source is restarted at end of input.
	OneShot bool
	// Retries is, one-shot, how many times a failed network input is tried again (with the
	// supervisor's backoff) before Run gives up; a file is tried once. Serving retries forever.
	Retries int
	// Sinks, if set, replace the sinks the config describes (tests, `run`).
	Sinks []sink.Sink
	// BoxSource, if set, gives an RoI detection model its actors instead of the configured person
	// detector or box model; New refuses an RoI model with none of them.
	BoxSource infer.BoxSource
}

// Pipeline is the running system. New opens the model and the sinks; Run runs the streams.
type Pipeline struct {
	cfg     configs.Config
	base    *slog.Logger // handed to the stages, which add their own component
	log     *slog.Logger
	oneShot bool
	retries int

	runtime *infer.Runtime // nil when inference is remote
	model   *infer.Model   // nil when inference is remote
	// closeBoxes closes an RoI model's box source (person detector or box model), before the
	// runtime.
	closeBoxes func()
	// info is the model that scores clips, in process or on a remote server (infer.remote).
	info    infer.BackendInfo
	batcher *infer.Batcher
	// Events go either to out (one-shot and caller-supplied sinks: a Fanout of Buffered
	// sinks, in memory) or, serving, to outbox, from which durable delivers to each sink.
	out     sink.Sink
	outbox  events.Outbox
	durable *sinks.Durable
	state   StateStore // optional: Redis
	metrics *metrics
	// eventSource is the CloudEvents source prefix of the stream events pipeline emits itself;
	// topK the length of a stream's top labels on the status page.
	eventSource string
	topK        int

	subs subscribers
	// generation is the cluster fencing token stamped on every event (0 = not clustered).
	generation atomic.Uint64
	// emitCtx bounds every emit's wait for a full or failing outbox: cancelled when the
	// shutdown deadline passes, so a stop never hangs on it (those events are then refused,
	// counted and logged).
	emitCtx    context.Context
	cancelEmit context.CancelFunc

	mu         sync.Mutex
	streams    map[string]*stream
	order      []string
	ready      bool
	runStarted bool            // Run has begun: streams added from now on start at once, or are refused
	streamsCtx context.Context // the ctx of Run while streams may start; nil otherwise
	wg         sync.WaitGroup  // every stream goroutine
}

// StateStore keeps each stream's current state somewhere others read it (Redis).
type StateStore interface {
	UpdateStream(ctx context.Context, st StreamStatus) error
}

// New opens the model and the sinks. The error says which part of the configuration failed.
func New(opts Options) (*Pipeline, error) {
	cfg := opts.Config
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Pipeline{cfg: cfg, base: log, log: log.With("component", "pipeline"), oneShot: opts.OneShot, retries: max(opts.Retries, 0), streams: map[string]*stream{}}
	p.emitCtx, p.cancelEmit = context.WithCancel(context.Background())

	backend, err := p.openBackend(cfg, log, opts.BoxSource)
	if err != nil {
		return nil, err
	}
	p.info = backend.Info()
	p.metrics = newMetrics(p)

	ev := cfg.Events.WithDefaults()
	if err := ev.Validate(); err != nil {
		p.closeModel()
		return nil, fmt.Errorf("events: %w", err)
	}
	p.eventSource, p.topK = ev.Source, ev.TopK
	if err := p.openSinks(opts.Sinks, log); err != nil {
		p.closeModel()
		return nil, err
	}

	bc := cfg.Batcher.WithDefaults()
	bc.OnBatch, bc.Logger, bc.Detection = p.metrics.observeBatch, log, cfg.Detection
	if p.oneShot {
		if cfg.Batcher.Workers == 0 {
			bc.Workers = OneShotWorkers(cfg.Model.Runtime, runtime.NumCPU())
		}
		bc.MaxPending = max(bc.MaxPending, oneShotInflight(bc.Workers)) // the clips a stream keeps in the batcher wait there unreplaced
		bc.Nice = OneShotNice(cfg.Model.Runtime)
	}
	b, err := infer.NewBatcher(backend, bc, p.handleResult)
	if err != nil {
		p.closeUnstarted()
		return nil, fmt.Errorf("batcher: %w", err)
	}
	p.batcher = b

	p.noteMotionOverrides()
	for _, sc := range cfg.Streams {
		if err := p.addStream(sc); err != nil {
			p.closeUnstarted()
			return nil, fmt.Errorf("stream %q: %w", sc.ID, err)
		}
	}
	return p, nil
}

// SetGeneration sets the cluster fencing token stamped on every event and Redis state write
// from now on (the CloudEvents "generation" attribute).
func (p *Pipeline) SetGeneration(token uint64) { p.generation.Store(token) }

// openBackend opens what scores the clips: the model file in ONNX Runtime, or, with
// infer.remote, the same model on a KServe v2 server (its contract read from the local file).
// boxes gives an in-process RoI detection model its actors.
func (p *Pipeline) openBackend(cfg configs.Config, log *slog.Logger, boxes infer.BoxSource) (infer.Backend, error) {
	if rc := cfg.Infer.Remote; rc.Enabled() {
		meta, digest, err := infer.ReadContract(cfg.Model.Path)
		if err != nil {
			return nil, fmt.Errorf("model.path: %w", err)
		}
		if meta.Mode == infer.ModeRoI {
			return nil, fmt.Errorf("infer.remote: %s is an RoI detection model (%s %s): %w", cfg.Model.Path,
				infer.KeyDetectionMode, infer.ModeRoI, ErrRemoteRoI)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*rc.Timeout.D())
		defer cancel()
		be, err := kserve.NewBackend(ctx, rc, meta, digest)
		if err != nil {
			return nil, fmt.Errorf("infer.remote: %w", err)
		}
		return be, nil
	}
	ro := cfg.Model.Runtime
	ro.Logger = log
	if p.oneShot {
		ro = OneShotThreads(ro, runtime.NumCPU())
		ro.LoadInBackground = true // the input opens and decodes meanwhile
	}
	rt, err := infer.NewRuntime(ro)
	if err != nil {
		return nil, fmt.Errorf("model.runtime: %w", err)
	}
	p.runtime = rt
	open := rt.Open
	if p.oneShot {
		open = rt.OpenInBackground // the first clips decode while the session is built
	}
	m, err := open(cfg.Model.Path)
	if err != nil {
		rt.Close()
		p.runtime = nil
		return nil, fmt.Errorf("model.path: %w", err)
	}
	p.model = m
	if err := m.SetDetection(cfg.Detection); err != nil {
		p.closeModel()
		return nil, fmt.Errorf("detection: %w", err)
	}
	if p.closeBoxes, err = p.openBoxSource(cfg, boxes); err != nil {
		p.closeModel()
		return nil, err
	}
	return m, nil
}

// Model is the model that scores clips: its contract, digest and where it runs.
func (p *Pipeline) Model() infer.BackendInfo { return p.info }

// closeUnstarted releases what New opened when it fails after the sinks: the sinks (and the
// outbox's file lock) and the model.
func (p *Pipeline) closeUnstarted() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if p.durable != nil {
		_ = p.durable.Close(ctx) // nothing was appended
	} else if p.out != nil {
		_ = p.out.Close(ctx)
	}
	p.cancelEmit()
	p.closeModel()
}

func (p *Pipeline) closeModel() {
	if p.closeBoxes != nil {
		p.closeBoxes()
	}
	if p.model != nil {
		p.model.Close()
	}
	if p.runtime != nil {
		p.runtime.Close()
	}
}

// Run runs every stream until ctx ends (or, one-shot, until every input has ended), then shuts
// down in order under cfg.ShutdownTimeout: stop ingest, drain decoders, flush the batcher, end
// active actions, flush the sinks. It returns the sinks' delivery error, if any.
func (p *Pipeline) Run(ctx context.Context) error {
	batchCtx, stopBatcher := context.WithCancel(context.Background())
	batchDone := make(chan error, 1)
	go func() { batchDone <- p.batcher.Run(batchCtx) }()
	stateDone := make(chan struct{})
	stateCtx, stopState := context.WithCancel(context.Background())
	go func() {
		defer close(stateDone)
		p.publishState(stateCtx)
	}()

	stopDelivery := p.startDelivery()
	// One-shot, ONNX Runtime is still loading and the session being built: if either
	// fails, the inputs stop and Run returns why, as New would have.
	var modelErr error
	modelDone := make(chan struct{})
	if p.oneShot && p.model != nil {
		var cancelStreams context.CancelFunc
		ctx, cancelStreams = context.WithCancel(ctx)
		defer cancelStreams()
		go func() {
			defer close(modelDone)
			if err := p.model.Ready(); err != nil {
				key := "model.path"
				if p.runtime.Loaded() != nil {
					key = "model.runtime" // the library, loaded in the background, is what failed
				}
				modelErr = fmt.Errorf("%s: %w", key, err)
				cancelStreams()
			}
		}()
	} else {
		close(modelDone)
	}
	p.mu.Lock()
	p.ready, p.runStarted = true, true
	p.streamsCtx = ctx
	for _, id := range p.order {
		s := p.streams[id]
		p.startLocked(s, s.dynamic)
	}
	p.mu.Unlock()

	// One-shot: until every input has ended. Serving: until ctx ends (streams come and go).
	if !p.oneShot {
		<-ctx.Done()
	}
	p.mu.Lock()
	p.ready = false
	p.mu.Unlock()
	if p.oneShot {
		p.wg.Wait() // the inputs end by themselves; the shutdown starts after
	}
	timeout := p.cfg.ShutdownTimeout.D()
	deadline := time.Now().Add(timeout)
	shutdownCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// The last part of the time is kept for closing the outbox and the sinks.
	workCtx, cancelWork := context.WithDeadline(shutdownCtx, deadline.Add(-min(timeout/10, 2*time.Second)))
	defer cancelWork()
	stopEmitWatch := context.AfterFunc(workCtx, p.cancelEmit)
	defer stopEmitWatch()
	defer p.cancelEmit()
	p.wg.Wait()
	p.mu.Lock()
	p.streamsCtx = nil // no Attach from here on
	p.mu.Unlock()

	stopBatcher() // the batcher scores what is pending, then returns
	select {
	case <-batchDone:
	case <-workCtx.Done():
		p.log.Warn("shutdown deadline passed while the batcher flushed")
	}
	stopState()
	<-stateDone
	p.flushTrackers(workCtx)
	err := p.closeSinks(workCtx, shutdownCtx, stopDelivery)
	p.closeModel()
	<-modelDone // the model's session exists, or modelErr says why not
	if modelErr != nil {
		return errors.Join(modelErr, err)
	}
	if p.oneShot {
		// One-shot callers need to know an input could not be read or gave nothing to score.
		for _, s := range p.snapshotStreams() {
			err = errors.Join(err, s.verdict())
		}
	}
	return err
}

func (p *Pipeline) snapshotStreams() []*stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*stream, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, p.streams[id])
	}
	return out
}

// handleResult runs on the batcher's goroutine: one scored clip -> lifecycle -> outbox (or
// sinks). Emitting blocks while the outbox (or a sink's buffer) is full or its disk fails
// (back-pressure: inference waits; decoding does not, because the batcher drops stale clips per
// stream).
func (p *Pipeline) handleResult(r infer.Result) {
	s := p.stream(r.Stream)
	if s == nil {
		return
	}
	defer s.resultHandled() // after the lifecycle saw it: remove flushes only then
	if s.ahead != nil {
		defer s.ahead.back(s.submitTo(p.batcher, p.log)) // one-shot: the stream's next clip goes in
	}
	s.onResult(r, p.topK)
	if r.Err == nil { // a failed call is counted by the batcher and logged as periodic totals
		s.scoredOK.Add(1)
	}
	// A failed result still lets the gated clips after it reach the lifecycle.
	p.lifecycle(s, r)
	if r.Err == nil {
		p.metrics.observeResult(r)
	}
}

func (p *Pipeline) emit(ctx context.Context, evs []events.Event) {
	if len(evs) == 0 {
		return
	}
	for _, e := range evs {
		p.metrics.countEvent(e.Type)
	}
	if g := p.generation.Load(); g != 0 {
		for i := range evs {
			evs[i].Generation = g
		}
	}
	p.subs.publish(evs)
	if p.outbox != nil {
		// Stored before the lifecycle moves on: the caller waits for this.
		if err := p.outbox.Append(ctx, evs); err != nil {
			p.metrics.outboxRefused.Add(1)
			p.log.Error("events not stored in the outbox", "n", len(evs), "err", err)
		}
		return
	}
	if err := p.out.Write(ctx, evs); err != nil && !errors.Is(err, sink.ErrClosed) {
		p.log.Error("events not accepted by the sinks", "n", len(evs), "err", err)
	}
}

// flushTrackers ends every active action at shutdown so consumers see action.ended.
func (p *Pipeline) flushTrackers(ctx context.Context) {
	for _, s := range p.snapshotStreams() {
		p.emit(ctx, s.flushActions())
	}
}

func (p *Pipeline) stream(id string) *stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.streams[id]
}

// Streams reports every stream's state, sorted by id.
func (p *Pipeline) Streams() []StreamStatus {
	ss := p.snapshotStreams()
	out := make([]StreamStatus, 0, len(ss))
	var stale map[string]uint64
	if p.batcher != nil {
		stale = p.batcher.Stats().DroppedByStream
	}
	for _, s := range ss {
		out = append(out, s.status(stale[s.id]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// publishState pushes stream state to the state store every second (Redis TTL refresh).
func (p *Pipeline) publishState(ctx context.Context) {
	if p.state == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		for _, st := range p.Streams() {
			if err := p.state.UpdateStream(ctx, st); err != nil && ctx.Err() == nil {
				p.metrics.stateErrors.Add(1)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// clipperConfig is the model's sampling grid with the operator's spacing.
func (p *Pipeline) clipperConfig() clipper.Config {
	m := p.info.Meta
	return p.cfg.Clipper.Grid(m.Frames, m.SamplingRate, m.CropSize)
}

// decodeConfig is the model's input geometry under the configured limits.
func (p *Pipeline) decodeConfig(id string) decode.Config {
	m := p.info.Meta
	return p.cfg.Decode.Apply(decode.Config{Stream: id, Size: m.CropSize, ResizeShortSide: m.ResizeShortSide, Mean: m.Mean, Std: m.Std, Logger: p.base})
}
