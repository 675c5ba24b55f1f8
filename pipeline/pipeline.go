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
	"sort"
	"sync"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/sink"
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
}

// Pipeline is the running system. New opens the model and the sinks; Run runs the streams.
type Pipeline struct {
	cfg     configs.Config
	base    *slog.Logger // handed to the stages, which add their own component
	log     *slog.Logger
	oneShot bool
	retries int

	runtime *infer.Runtime
	model   *infer.Model
	batcher *infer.Batcher
	out     sink.Sink  // a Fanout of Buffered sinks
	state   StateStore // optional: Redis
	metrics *metrics
	events  eventsCfg

	subs subscribers

	mu         sync.Mutex
	streams    map[string]*stream
	order      []string
	ready      bool
	streamsCtx context.Context // the ctx of Run while streams may start; nil otherwise
	wg         sync.WaitGroup  // every stream goroutine
}

type eventsCfg struct {
	tracker events.Config
	source  string
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

	rt, err := infer.NewRuntime(infer.Options{
		LibraryPath: cfg.Model.Runtime.Library, Threads: cfg.Model.Runtime.Threads,
		Provider: cfg.Model.Runtime.Provider, RequireGPU: cfg.Model.Runtime.RequireGPU, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("model.runtime: %w", err)
	}
	p.runtime = rt
	m, err := rt.Open(cfg.Model.Path)
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("model.path: %w", err)
	}
	p.model = m
	p.metrics = newMetrics(p)

	p.events.tracker = events.Config{
		Smoothing: cfg.Events.Smoothing, On: cfg.Events.On, Off: cfg.Events.Off,
		MinDuration: cfg.Events.MinDuration.D(), Cooldown: cfg.Events.Cooldown.D(),
		UpdateInterval: cfg.Events.UpdateInterval.D(), ClipScored: cfg.Events.ClipScored,
		TopK: cfg.Events.TopK, Ignore: cfg.Events.Ignore,
	}.WithDefaults()
	if err := p.events.tracker.Validate(); err != nil {
		p.closeModel()
		return nil, fmt.Errorf("events: %w", err)
	}
	p.events.source = p.events.tracker.Source

	var outs []sink.Sink
	if opts.Sinks != nil {
		for i, s := range opts.Sinks {
			outs = append(outs, sink.NewBuffered(s, sink.BufferConfig{Name: fmt.Sprintf("sink%d", i), Capacity: cfg.Sinks.Buffer, Logger: log}))
		}
	} else {
		var rs *redisState
		outs, rs, err = openSinks(cfg.Sinks, log)
		if err != nil {
			p.closeModel()
			return nil, err
		}
		if rs != nil {
			rs.model, rs.modelDigest = m.Meta.Name, m.Digest
			p.state = rs
		}
	}
	p.out = sink.NewFanout(outs...)

	b, err := infer.NewBatcher(m, infer.BatcherConfig{
		MaxBatch: cfg.Batcher.MaxBatch, MaxWait: cfg.Batcher.MaxWait.D(), TopK: cfg.Events.TopK,
		OnBatch: p.metrics.observeBatch, Logger: log,
	}, p.handleResult)
	if err != nil {
		p.closeModel()
		return nil, fmt.Errorf("batcher: %w", err)
	}
	p.batcher = b

	for _, sc := range cfg.Streams {
		if err := p.addStream(sc); err != nil {
			p.closeModel()
			return nil, fmt.Errorf("stream %q: %w", sc.ID, err)
		}
	}
	return p, nil
}

// Model is the open model.
func (p *Pipeline) Model() *infer.Model { return p.model }

func (p *Pipeline) closeModel() {
	if p.model != nil {
		p.model.Close()
	}
	p.runtime.Close()
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

	p.mu.Lock()
	p.ready = true
	p.streamsCtx = ctx
	for _, id := range p.order {
		p.startLocked(p.streams[id], false)
	}
	p.mu.Unlock()

	// One-shot: until every input has ended. Serving: until ctx ends (streams come and go).
	if !p.oneShot {
		<-ctx.Done()
	}
	p.mu.Lock()
	p.ready = false
	p.mu.Unlock()
	p.wg.Wait()
	p.mu.Lock()
	p.streamsCtx = nil // no Attach from here on
	p.mu.Unlock()

	deadline := time.Now().Add(p.cfg.ShutdownTimeout.D())
	shutdownCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	stopBatcher() // the batcher scores what is pending, then returns
	select {
	case <-batchDone:
	case <-shutdownCtx.Done():
		p.log.Warn("shutdown deadline passed while the batcher flushed")
	}
	stopState()
	<-stateDone
	p.flushTrackers(shutdownCtx)
	err := p.out.Close(shutdownCtx)
	p.closeModel()
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

// handleResult runs on the batcher's goroutine: one scored clip -> lifecycle -> sinks.
// Writing blocks while the sinks' buffers are full (back-pressure: inference waits; decoding
// does not, because the batcher is latest-wins per stream).
func (p *Pipeline) handleResult(r infer.Result) {
	s := p.stream(r.Stream)
	if s == nil {
		return
	}
	s.onResult(r)
	if r.Err != nil {
		return // counted by the batcher and logged as periodic totals
	}
	s.scoredOK.Add(1)
	evs, err := s.observe(events.ClipResult{
		Stream: r.Stream, Seq: r.Seq, StartPTS: r.Start, EndPTS: r.End, StartWall: r.StartWall, EndWall: r.EndWall,
		Labels: p.model.Meta.Labels, Scores: r.Scores, TopK: r.TopK,
		Model: p.model.Meta.Name, ModelDigest: p.model.Digest,
	})
	if err != nil {
		p.log.Error("scoring result refused", "stream", r.Stream, "err", err)
		return
	}
	p.emit(context.Background(), evs)
	p.metrics.observeResult(r)
}

func (p *Pipeline) emit(ctx context.Context, evs []events.Event) {
	if len(evs) == 0 {
		return
	}
	for _, e := range evs {
		p.metrics.countEvent(e.Type)
	}
	p.subs.publish(evs)
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

// Ready reports whether the model is loaded and streams are running.
func (p *Pipeline) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
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

// clipperConfig derives the sampling grid from the model and the operator's overrides.
func (p *Pipeline) clipperConfig() clipper.Config {
	m := p.model.Meta
	return clipper.Config{Frames: m.Frames, SamplingRate: m.SamplingRate, Size: m.CropSize,
		Hop: p.cfg.Clipper.Hop.D(), GapTolerance: p.cfg.Clipper.GapTolerance.D()}
}

func (p *Pipeline) decodeConfig(id string) decode.Config {
	m := p.model.Meta
	return decode.Config{Stream: id, Size: m.CropSize, ResizeShortSide: m.ResizeShortSide, Mean: m.Mean, Std: m.Std,
		MaxWidth: p.cfg.Decode.MaxWidth, MaxHeight: p.cfg.Decode.MaxHeight, Logger: p.base}
}

var _ ingest.Source = ingest.SourceFunc(nil)
