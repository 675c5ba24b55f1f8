package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/file"
	"github.com/actionstream/actionstream/ingest/rtsp"
)

// StreamStatus is one stream's current state (the /api/streams entries, the Redis hash).
type StreamStatus struct {
	ID            string  `json:"id"`
	URL           string  `json:"url"` // credentials redacted
	Status        string  `json:"status"`
	Reason        string  `json:"reason,omitempty"`
	Codec         string  `json:"codec,omitempty"`
	Width         int     `json:"width,omitempty"`
	Height        int     `json:"height,omitempty"`
	FPS           float64 `json:"fps"`
	FramesDecoded int64   `json:"frames_decoded"`
	DecodeErrors  int64   `json:"decode_errors"`
	Clips         uint64  `json:"clips"`
	ClipsDropped  uint64  `json:"clips_dropped"`
	// ClipsDropped split by reason, and the decoder's timestamp counters (decode.Stats).
	ClipsDroppedGap      uint64                `json:"clips_dropped_gap"`
	ClipsDroppedBackward uint64                `json:"clips_dropped_backward"`
	ClipsDroppedReset    uint64                `json:"clips_dropped_reset"`
	PTSBackwardSteps     int64                 `json:"pts_backward_steps"`
	PTSRepairs           int64                 `json:"pts_repairs"`
	Restarts             int64                 `json:"restarts"`
	LastClip             time.Time             `json:"last_clip,omitempty"`
	Active               []events.ActiveAction `json:"active"`
	Top                  []events.LabelScore   `json:"top,omitempty"`
}

// Stream states.
const (
	StatusStarting = "starting"
	StatusUp       = "up"
	StatusDown     = "down"
	StatusEnded    = "ended"
	StatusFailed   = "failed"
)

type stream struct {
	id  string
	url string
	src ingest.Source
	sup *ingest.Supervisor
	clp *clipper.Clipper
	dec *decode.Decoder
	// tracker is fed by the batcher's goroutine and flushed when the source goes down.
	trackerMu sync.Mutex
	tracker   *events.Tracker

	mu                sync.Mutex
	state             string
	reason            string
	lastClip          time.Time
	active            []events.ActiveAction
	top               []events.LabelScore
	submitted, scored atomic.Uint64 // clips handed to the batcher, results received

	// inflight gates one-shot mode: a stream submits its next clip only after the previous
	// one was scored, so no clip is replaced.
	inflight chan struct{}
}

func (p *Pipeline) addStream(sc configs.Stream) error {
	src, err := p.newSource(sc)
	if err != nil {
		return err
	}
	s, err := p.newStream(sc.ID, ingest.Redact(sc.URL), src)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.streams[sc.ID]; dup {
		return fmt.Errorf("%w: %q", ErrDuplicateStream, sc.ID)
	}
	p.streams[sc.ID] = s
	p.order = append(p.order, sc.ID)
	p.batcher.SetStreams(len(p.streams))
	return nil
}

// Attach adds a stream fed by src while Run runs (a WHIP publisher). The stream is removed
// when src ends for good (end of input or a permanent error); the supervisor restarts it after
// other failures. It fails with ErrDuplicateStream while a stream with this id exists, and with
// ErrNotRunning before Run or once shutdown has begun.
func (p *Pipeline) Attach(id, url string, src ingest.Source) error {
	s, err := p.newStream(id, url, src)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.streamsCtx == nil || !p.ready {
		s.dec.Close()
		return ErrNotRunning
	}
	if _, dup := p.streams[id]; dup {
		s.dec.Close()
		return fmt.Errorf("%w: %q", ErrDuplicateStream, id)
	}
	p.streams[id] = s
	p.order = append(p.order, id)
	p.batcher.SetStreams(len(p.streams))
	p.startLocked(s, true)
	return nil
}

// startLocked runs s on its own goroutine; p.mu is held.
func (p *Pipeline) startLocked(s *stream, dynamic bool) {
	ctx := p.streamsCtx
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.runStream(ctx, s)
		if dynamic {
			p.remove(s)
		}
	}()
}

// remove forgets an ended dynamic stream (its id may be published again), after ending its
// actions.
func (p *Pipeline) remove(s *stream) {
	// Let the batcher score the clips this stream already submitted: their results need the
	// stream's lifecycle. Replaced clips never come back; a failed batch is covered by the bound.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s.scored.Load()+p.batcher.Stats().DroppedByStream[s.id] >= s.submitted.Load() {
			break
		}
	}
	p.emit(context.Background(), s.flushActions())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.streams[s.id] != s {
		return
	}
	delete(p.streams, s.id)
	p.batcher.SetStreams(len(p.streams))
	for i, id := range p.order {
		if id == s.id {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

// Thumbnail is the latest converted frame of a stream as JPEG, with its PTS.
func (p *Pipeline) Thumbnail(id string) ([]byte, time.Duration, error) {
	s := p.stream(id)
	if s == nil {
		return nil, 0, fmt.Errorf("%w: %q", ErrNoStream, id)
	}
	return s.dec.ThumbnailJPEG(80)
}

// newStream builds a stream's decoder, clipper, lifecycle and supervisor.
func (p *Pipeline) newStream(id, url string, src ingest.Source) (*stream, error) {
	clp, err := clipper.New(id, p.clipperConfig())
	if err != nil {
		return nil, fmt.Errorf("clipper: %w", err)
	}
	tr, err := events.NewTracker(id, p.events.tracker)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	s := &stream{id: id, url: url, src: src, clp: clp, tracker: tr, state: StatusStarting}
	if p.oneShot {
		s.inflight = make(chan struct{}, 1)
	}
	dec, err := decode.New(p.decodeConfig(id), clp, func(c *clipper.Clip) { p.submit(s, c) })
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	s.dec = dec
	s.sup = ingest.NewSupervisor(ingest.SupervisorConfig{
		Stream:     id,
		MinBackoff: p.cfg.Supervisor.BackoffInitial.D(), MaxBackoff: p.cfg.Supervisor.BackoffMax.D(),
		OnUp: func() {
			s.setState(StatusUp, "")
			p.emit(context.Background(), []events.Event{events.StreamUp(p.events.source, id, time.Now(), "")})
		},
		OnDown: func(reason string, err error) {
			if err == nil {
				return // end of input: runStream drains the decoder first, then reports it
			}
			// A new connection starts a new timeline: never let a clip span the outage, and end
			// the actions in progress so consumers are not left with open ones.
			clp.Reset()
			s.setState(StatusDown, reason)
			evs := s.flushActions()
			evs = append(evs, events.StreamDown(p.events.source, id, time.Now(), reason))
			p.emit(context.Background(), evs)
		},
		Logger: p.base,
	})
	return s, nil
}

func (p *Pipeline) newSource(sc configs.Stream) (ingest.Source, error) {
	switch configs.URLKind(sc.URL) {
	case "rtsp":
		return rtsp.New(rtsp.Config{Stream: sc.ID, URL: sc.URL, Transport: sc.Transport, StallTimeout: sc.StallTimeout.D(), Logger: p.base})
	case "file":
		return file.New(file.Config{Stream: sc.ID, URL: sc.URL, Loop: sc.Loop && !p.oneShot, Paced: !p.oneShot, Logger: p.base})
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedURL, ingest.Redact(sc.URL))
}

// runStream runs one stream's source under its supervisor, decoding on this goroutine.
func (p *Pipeline) runStream(ctx context.Context, s *stream) {
	defer s.dec.Close()
	err := s.sup.Run(ctx, s.src, s.dec.Decode)
	if ferr := s.dec.Flush(); ferr != nil {
		p.log.Warn("decoder flush", "stream", s.id, "err", ferr)
	}
	switch {
	case err == nil:
		reason := ingest.ReasonEnd
		if r, ok := s.src.(ingest.EndReasoner); ok && r.EndReason() != "" {
			reason = r.EndReason()
		}
		s.setState(StatusEnded, reason)
		p.emit(context.Background(), []events.Event{events.StreamDown(p.events.source, s.id, time.Now(), reason)})
	case ctx.Err() != nil:
		s.setState(StatusDown, ingest.ReasonShutdown)
	default:
		p.log.Error("stream failed permanently", "stream", s.id, "err", err)
		s.setState(StatusFailed, err.Error())
	}
	if s.inflight != nil {
		// Wait until the last clip is scored, so `run` sees every result before it exits.
		s.inflight <- struct{}{}
	}
}

// submit hands a finished clip to the batcher (decoder goroutine).
func (p *Pipeline) submit(s *stream, c *clipper.Clip) {
	if s.inflight != nil {
		s.inflight <- struct{}{}
	}
	s.submitted.Add(1)
	if err := p.batcher.Submit(c); err != nil {
		s.submitted.Add(^uint64(0))
		p.log.Warn("clip refused", "stream", s.id, "err", err)
		if s.inflight != nil {
			<-s.inflight
		}
	}
}

func (s *stream) onResult(r infer.Result) {
	s.scored.Add(1)
	s.mu.Lock()
	s.lastClip = r.EndWall
	s.top = r.TopK
	s.mu.Unlock()
	if s.inflight != nil {
		select {
		case <-s.inflight:
		default:
		}
	}
}

// observe feeds one scored clip to the lifecycle.
func (s *stream) observe(r events.ClipResult) ([]events.Event, error) {
	s.trackerMu.Lock()
	defer s.trackerMu.Unlock()
	evs, err := s.tracker.Observe(r)
	s.setActive(s.tracker.Active())
	return evs, err
}

// flushActions ends every active action.
func (s *stream) flushActions() []events.Event {
	s.trackerMu.Lock()
	defer s.trackerMu.Unlock()
	evs := s.tracker.Flush()
	s.setActive(nil)
	return evs
}

func (s *stream) setState(state, reason string) {
	s.mu.Lock()
	s.state, s.reason = state, reason
	s.mu.Unlock()
}

func (s *stream) setActive(a []events.ActiveAction) {
	s.mu.Lock()
	s.active = a
	s.mu.Unlock()
}

func (s *stream) status() StreamStatus {
	ds := s.dec.Stats()
	cs := s.clp.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	active := s.active
	if active == nil {
		active = []events.ActiveAction{}
	}
	return StreamStatus{
		ID: s.id, URL: s.url, Status: s.state, Reason: s.reason,
		Codec: ds.Codec, Width: ds.Width, Height: ds.Height, FPS: ds.FPS,
		FramesDecoded: ds.FramesDecoded, DecodeErrors: ds.DecodeErrors,
		Clips: cs.Clips, ClipsDropped: cs.ClipsDropped, Restarts: s.sup.Restarts(),
		ClipsDroppedGap: cs.ClipsDroppedGap, ClipsDroppedBackward: cs.ClipsDroppedBackward, ClipsDroppedReset: cs.ClipsDroppedReset,
		PTSBackwardSteps: ds.BackwardSteps, PTSRepairs: ds.Repairs,
		LastClip: s.lastClip, Active: active, Top: s.top,
	}
}
