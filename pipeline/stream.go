package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/clipper/motion"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/sources"
)

// StreamStatus is one stream's current state (the /api/streams entries, the Redis hash).
type StreamStatus struct {
	ID            string                `json:"id"`
	URL           string                `json:"url"` // credentials redacted
	Status        string                `json:"status"`
	Reason        string                `json:"reason,omitempty"`
	Codec         string                `json:"codec,omitempty"`
	Width         int                   `json:"width,omitempty"`
	Height        int                   `json:"height,omitempty"`
	FPS           float64               `json:"fps"`
	FramesDecoded int64                 `json:"frames_decoded"`
	FramesSkipped int64                 `json:"frames_skipped"` // non-reference frames no clip needed, left undecoded
	DecodeErrors  int64                 `json:"decode_errors"`
	Clips         uint64                `json:"clips"`
	ClipsDropped  uint64                `json:"clips_dropped"`
	Restarts      int64                 `json:"restarts"`
	LastClip      time.Time             `json:"last_clip,omitempty"`
	Active        []events.ActiveAction `json:"active"`
	Top           []infer.LabelScore    `json:"top,omitempty"`
	// Actors are a detection model's actors in the latest clip (nil for classification).
	Actors []ActorStatus `json:"actors,omitempty"`

	// ClipsScored counts clips the model scored; ClipsDroppedByReason splits every dropped clip
	// (clipper and batcher) by why: see droppedByReason.
	ClipsScored          uint64            `json:"clips_scored"`
	ClipsDroppedByReason map[string]uint64 `json:"clips_dropped_by_reason"`
	Gaps                 uint64            `json:"gaps"`           // frame-time steps over the gap tolerance
	BackwardSteps        uint64            `json:"backward_steps"` // frame times going backwards at the clipper (after repair)
	// PTSBackwardSteps counts decoded frames whose FFmpeg time went backwards, PTSRepairs the
	// frames the decoder re-timed for it (decode.Stats).
	PTSBackwardSteps int64 `json:"pts_backward_steps"`
	PTSRepairs       int64 `json:"pts_repairs"`
	// Attempts counts failed tries in a row and LastError is the latest failure, so a camera
	// that never answers shows as failing, with why.
	Attempts  int64  `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
	// MotionGating says whether this stream's still clips skip inference; Motion is the latest
	// measured clip's motion level (the fraction of grid cells that moved; null before one);
	// ClipsGated counts the clips gating kept from the model (also in clips_dropped_by_reason).
	MotionGating bool     `json:"motion_gating"`
	Motion       *float64 `json:"motion"`
	ClipsGated   uint64   `json:"clips_gated"`
}

// Stream states.
const (
	StatusStarting = "starting"
	StatusUp       = "up"
	StatusDown     = "down"
	StatusEnded    = "ended"
	StatusFailed   = "failed"
	// StatusFailing: the last try failed and the supervisor retries (serve keeps retrying).
	StatusFailing = "failing"
)

type stream struct {
	id  string
	url string
	src ingest.Source
	sup *ingest.Supervisor
	clp *clipper.Clipper
	tl  *timeline
	dec *decode.Decoder
	// tracker is fed by the batcher's goroutine and flushed when the source goes down.
	trackerMu sync.Mutex
	tracker   *events.Tracker
	gate      *gate // motion gating: the meter and the order of gated clips in the lifecycle

	mu        sync.Mutex
	state     string
	reason    string
	lastClip  time.Time
	active    []events.ActiveAction
	top       []infer.LabelScore
	actors    []ActorStatus
	submitted atomic.Uint64 // clips handed to the batcher
	// results counts the results received (under mu); allBack, when set, is closed once it
	// reaches awaited.
	results, awaited uint64
	allBack          chan struct{}
	dropsBefore      uint64        // the batcher's drops for this id before the stream started
	ended            chan struct{} // closed when the stream's goroutine is done (and it is removed)
	scoredOK         atomic.Uint64 // results without an inference error
	failErr          error         // why runStream ended the stream as failed; set before wg.Done

	// dynamic streams are removed from the pipeline when they end (WHIP publishers, cameras
	// added at run time); cancel stops the stream alone (RemoveStream).
	dynamic bool
	cancel  context.CancelFunc

	// ahead queues one-shot mode's clips: none is replaced, and decoding runs ahead of
	// inference (nil when serving).
	ahead *runAhead
}

func (p *Pipeline) addStream(sc ingest.StreamConfig) error {
	src, err := sources.New(sc, sources.Options{OneShot: p.oneShot, Logger: p.base})
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
	ctx, cancel := context.WithCancel(p.streamsCtx)
	s.cancel = cancel
	s.dropsBefore = p.batcher.Stats().DroppedByStream[s.id]
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(s.ended)
		defer cancel()
		p.runStream(ctx, s)
		if dynamic {
			p.remove(s)
		}
	}()
}

// AddStream adds a configured stream at run time (a camera this node took over in cluster
// mode). Before Run it waits for Run to start it; from the shutdown on it fails with
// ErrNotRunning. Like an attached stream, it is removed when it ends for good.
func (p *Pipeline) AddStream(sc ingest.StreamConfig) error {
	if err := sc.Validate(); err != nil {
		return fmt.Errorf("stream %q: %w", sc.ID, err)
	}
	src, err := sources.New(sc, sources.Options{OneShot: p.oneShot, Logger: p.base})
	if err != nil {
		return err
	}
	s, err := p.newStream(sc.ID, ingest.Redact(sc.URL), src)
	if err != nil {
		return err
	}
	s.dynamic = true
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.streams[sc.ID]; dup {
		s.dec.Close()
		return fmt.Errorf("%w: %q", ErrDuplicateStream, sc.ID)
	}
	running := p.streamsCtx != nil && p.ready
	if p.runStarted && !running {
		s.dec.Close()
		return ErrNotRunning
	}
	p.streams[sc.ID] = s
	p.order = append(p.order, sc.ID)
	p.batcher.SetStreams(len(p.streams))
	if running {
		p.startLocked(s, true)
	}
	return nil
}

// RemoveStream stops the stream with this id and waits, until ctx ends, for it to be gone:
// its source stopped, its pending clips scored, its actions ended (action.ended emitted). The
// id may be added again afterwards.
func (p *Pipeline) RemoveStream(ctx context.Context, id string) error {
	p.mu.Lock()
	s := p.streams[id]
	if s == nil {
		p.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoStream, id)
	}
	if s.cancel == nil { // added before Run and not started: forget it
		delete(p.streams, id)
		p.order = slices.DeleteFunc(p.order, func(o string) bool { return o == id })
		p.batcher.SetStreams(len(p.streams))
		p.mu.Unlock()
		s.dec.Close()
		return nil
	}
	p.mu.Unlock()
	s.cancel()
	select {
	case <-s.ended:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stream %q: removal: %w", id, ctx.Err())
	}
}

// remove forgets an ended dynamic stream (its id may be published again), after ending its
// actions.
func (p *Pipeline) remove(s *stream) {
	// Let the batcher score the clips this stream already submitted: their results need the
	// stream's lifecycle. Nothing of s is submitted any more, so its count of replaced clips
	// (which never come back) is final; every other clip comes back as a result, failed or
	// not. The bound covers a batcher that has stopped.
	want := s.submitted.Load() - (p.batcher.Stats().DroppedByStream[s.id] - s.dropsBefore)
	bound := time.NewTimer(5 * time.Second)
	defer bound.Stop()
	select {
	case <-s.resultsReach(want):
	case <-bound.C:
		p.log.Warn("ended stream removed before all its results came back", "stream", s.id)
	}
	p.emit(p.emitCtx, s.flushActions())
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

// StreamEnded returns a channel closed when the stream with this id has ended and, if it was
// attached, been removed; nil when there is no such stream.
func (p *Pipeline) StreamEnded(id string) <-chan struct{} {
	if s := p.stream(id); s != nil {
		return s.ended
	}
	return nil
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
	tr, err := events.NewTracker(id, p.cfg.Events)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	s := &stream{id: id, url: url, src: src, clp: clp, tracker: tr, state: StatusStarting, ended: make(chan struct{})}
	if p.oneShot {
		s.ahead = newRunAhead(p.info.Meta.ClipLen(), oneShotInflight(p.batcher.Workers()))
	}
	s.gate = newGate(p.cfg.Motion.For(id), p.motionGeometry())
	s.tl = &timeline{Clipper: clp, meter: s.gate.meter}
	dec, err := decode.New(p.decodeConfig(id), s.tl, func(c *clipper.Clip) { p.submit(s, c) })
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	s.dec = dec
	s.tl.sourceSize = func() (int, int) {
		st := dec.Stats()
		return st.Width, st.Height
	}
	sc := p.cfg.Supervisor.SupervisorConfig(id)
	sc.Logger = p.base
	sc.MaxAttempts = p.maxAttempts(url)
	sc.OnRetry = func(_ int, _ time.Duration, err error) {
		s.setState(StatusFailing, err.Error())
	}
	sc.OnUp = func() {
		s.setState(StatusUp, "")
		p.emit(p.emitCtx, []events.Event{events.StreamUp(p.eventSource, id, time.Now(), "")})
	}
	sc.OnDown = func(reason string, err error) {
		if err == nil {
			return // end of input: runStream drains the decoder first, then reports it
		}
		// A new connection starts a new timeline: never let a clip span the outage, and end
		// the actions in progress so consumers are not left with open ones.
		s.dec.NewTimeline()
		clp.Reset()
		s.gate.meter.Reset()
		s.setState(StatusDown, reason)
		evs := s.flushActions()
		evs = append(evs, events.StreamDown(p.eventSource, id, time.Now(), reason))
		p.emit(p.emitCtx, evs)
	}
	s.sup = ingest.NewSupervisor(sc)
	return s, nil
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
		p.emit(p.emitCtx, []events.Event{events.StreamDown(p.eventSource, s.id, time.Now(), reason)})
	case ctx.Err() != nil:
		s.setState(StatusDown, ingest.ReasonShutdown)
	default:
		if !p.oneShot { // one-shot returns it from Run instead
			p.log.Error("stream failed permanently", "stream", s.id, "err", err)
		}
		s.failErr = err
		s.setState(StatusFailed, err.Error())
	}
	if s.ahead != nil {
		s.ahead.drain()
	}
}

// submit hands a finished clip to the batcher (decoder goroutine); one-shot, through the
// stream's run-ahead queue.
func (p *Pipeline) submit(s *stream, c *clipper.Clip) {
	if p.gateClip(s, c) {
		return // still: not scored (counted, and the lifecycle told)
	}
	seq := c.Seq
	if s.ahead != nil {
		// A queued clip is outstanding for the lifecycle already, so a gated clip behind it
		// waits for its result.
		s.noteSubmitted(seq)
		s.ahead.push(c, s.submitTo(p.batcher, p.log))
		return
	}
	if s.submitTo(p.batcher, p.log)(c) {
		s.noteSubmitted(seq)
	}
}

// submitTo returns the call that hands one clip to b, counting it; false when b refused it.
func (s *stream) submitTo(b *infer.Batcher, log *slog.Logger) func(*clipper.Clip) bool {
	return func(c *clipper.Clip) bool {
		s.submitted.Add(1)
		if err := b.Submit(c); err != nil {
			s.submitted.Add(^uint64(0))
			log.Warn("clip refused", "stream", s.id, "err", err)
			return false
		}
		return true
	}
}

func (s *stream) onResult(r infer.Result, topK int) {
	s.mu.Lock()
	s.lastClip = r.EndWall
	s.top = r.TopK(topK)
	s.mu.Unlock()
}

// resultHandled counts a result whose events are out (or that failed).
func (s *stream) resultHandled() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results++
	if s.allBack != nil && s.results >= s.awaited {
		close(s.allBack)
		s.allBack = nil
	}
}

// resultsReach returns a channel closed once n results have been handled.
func (s *stream) resultsReach(n uint64) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	if s.results >= n {
		close(ch)
		return ch
	}
	s.awaited, s.allBack = n, ch
	return ch
}

// ActorStatus is one actor of a stream's latest clip: its id, box (fractions of the frame at the
// clip's key frame) and best label.
type ActorStatus struct {
	ID    string     `json:"actor_id"`
	Box   events.Box `json:"box"`
	Label string     `json:"label"`
	Score float32    `json:"score"`
}

func actorStatuses(labels []string, actors []infer.Actor) []ActorStatus {
	if actors == nil {
		return nil
	}
	out := make([]ActorStatus, 0, len(actors))
	for _, a := range actors {
		best := infer.TopK(labels, a.Scores, 1)
		if len(best) == 0 {
			continue
		}
		out = append(out, ActorStatus{ID: strconv.Itoa(a.TrackID), Box: events.Box{X1: a.Box[0], Y1: a.Box[1], X2: a.Box[2], Y2: a.Box[3]},
			Label: best[0].Label, Score: best[0].Score})
	}
	return out
}

func (s *stream) setActors(a []ActorStatus) {
	s.mu.Lock()
	s.actors = a
	s.mu.Unlock()
}

// flushActions ends every active action.
func (s *stream) flushActions() []events.Event {
	s.trackerMu.Lock()
	defer s.trackerMu.Unlock()
	evs := s.tracker.Flush()
	s.gate.pending = s.gate.pending[:0] // the flush ended what they could end
	s.setActive(nil)
	s.mu.Lock()
	if s.actors != nil {
		s.actors = []ActorStatus{} // still a detection stream, no actor now
	}
	s.mu.Unlock()
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

// timeline is the stream's Sampler: the clipper, plus the earliest and latest frame time the
// decoder offered, for one-shot's "too short for one clip" verdict. Written on the decoder's
// goroutine; read only after runStream returned.
type timeline struct {
	*clipper.Clipper
	seen        bool
	first, last time.Duration
	meter       *motion.Meter
	sourceSize  func() (w, h int) // the decoded frames' size, for the meter's masks
}

func (t *timeline) Want(pts time.Duration) bool {
	if !t.seen {
		t.seen, t.first, t.last = true, pts, pts
	}
	t.first, t.last = min(t.first, pts), max(t.last, pts)
	return t.Clipper.Want(pts)
}

// dropReasons are the reasons droppedByReason reports, in /metrics order.
var dropReasons = []string{"gap", "backward", "reset", "stale", "gated"}

// droppedByReason is the one place that splits dropped clips by reason (the label values of
// actionstream_clips_dropped_total): clips in progress cut by a "gap", a "backward" frame time
// or a "reset" (reconnect), "stale" ones replaced by a newer clip before inference, and
// "gated" ones motion gating kept from the model (a still scene).
func droppedByReason(cs clipper.Stats, stale, gated uint64) map[string]uint64 {
	// Keep the keys in step with dropReasons.
	return map[string]uint64{"gap": cs.ClipsDroppedGap, "backward": cs.ClipsDroppedBackward, "reset": cs.ClipsDroppedReset, "stale": stale, "gated": gated}
}

// status reports the stream; stale is the batcher's count of this stream's replaced clips.
func (s *stream) status(stale uint64) StreamStatus {
	ds := s.dec.Stats()
	cs := s.clp.Stats()
	lastErr := ""
	if err := s.sup.LastError(); err != nil {
		lastErr = err.Error()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	active := s.active
	if active == nil {
		active = []events.ActiveAction{}
	}
	gated := s.gate.gated.Load()
	var level *float64
	if l, ok := s.gate.level(); ok {
		level = &l
	}
	return StreamStatus{
		ID: s.id, URL: s.url, Status: s.state, Reason: s.reason,
		Codec: ds.Codec, Width: ds.Width, Height: ds.Height, FPS: ds.FPS,
		FramesDecoded: ds.FramesDecoded, FramesSkipped: ds.FramesSkipped, DecodeErrors: ds.DecodeErrors,
		Clips: cs.Clips, ClipsDropped: cs.ClipsDropped, ClipsScored: s.scoredOK.Load(),
		ClipsDroppedByReason: droppedByReason(cs, stale, gated), Gaps: cs.Gaps, BackwardSteps: cs.Discontinuities,
		Restarts: s.sup.Restarts(), Attempts: s.sup.Attempts(), LastError: lastErr,
		PTSBackwardSteps: ds.BackwardSteps, PTSRepairs: ds.Repairs,
		LastClip: s.lastClip, Active: active, Top: s.top, Actors: s.actors,
		MotionGating: s.gate.meter.Settings().Enabled, Motion: level, ClipsGated: gated,
	}
}

// maxAttempts bounds the tries of one input: one-shot work ends, so a file (which will not
// get better) is tried once and a network input 1+Retries times; serving retries forever.
func (p *Pipeline) maxAttempts(url string) int {
	switch {
	case !p.oneShot:
		return 0
	case ingest.URLKind(url) == "file":
		return 1
	}
	return 1 + p.retries
}
