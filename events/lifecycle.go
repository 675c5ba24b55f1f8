package events

import (
	"fmt"
	"slices"
	"time"

	"github.com/actionstream/actionstream/infer"
)

// ActiveAction is an action in progress, for state stores and dashboards.
type ActiveAction struct {
	Label     string
	StartPTS  time.Duration
	StartWall time.Time
	Score     float32 // current smoothed score
	Peak      float32
}

type phase uint8

const (
	idle    phase = iota
	arming        // smoothed >= On, waiting for MinDuration
	active        // started; smoothed >= Off
	cooling       // started; smoothed < Off, waiting for Cooldown
)

type labelState struct {
	phase     phase
	armedAt   time.Duration // observation time (clip end PTS) of the first clip >= On
	startPTS  time.Duration // action start: the first clip's start
	startWall time.Time
	lastOnPTS time.Duration // end of the last clip with smoothed >= Off: the action's end so far
	lastOnWal time.Time
	coolSince time.Duration
	lastEmit  time.Duration // observation time of the last started/updated event
	updates   int
	peak      float32
	score     float32
}

// Tracker turns one stream's clip scores into action events. It is not safe for concurrent
// use: one goroutine (the stream's result handler) owns it.
//
// Per label the smoothed score is the mean of the last Smoothing clips. An action starts when the
// smoothed score has stayed >= On for MinDuration of stream time (measured between clip ends), and
// ends when it has stayed < Off for Cooldown; scores between Off and On keep the current state
// (hysteresis), so a score hovering around one threshold cannot flap. The action's start is the
// start of the first clip >= On; its end is the end of the last clip >= Off.
type Tracker struct {
	stream string
	source string
	cfg    Config
	ignore map[string]bool

	labels []string
	ring   []float32 // Smoothing rows of len(labels) scores
	filled int       // rows in use
	row    int       // next row to overwrite
	states []labelState

	seen          bool
	lastEnd       time.Duration
	model, digest string
	// gatedSince is the end of the first clip of the current run of gated clips (gating true).
	gatedSince time.Duration
	gating     bool
}

// NewTracker returns a Tracker for stream; zero Smoothing, TopK, ResetGap and Source take defaults.
func NewTracker(stream string, cfg Config) (*Tracker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if stream == "" {
		return nil, fmt.Errorf("events: tracker stream is empty: %w", ErrInvalidConfig)
	}
	t := &Tracker{stream: stream, source: SourceFor(cfg.Source, stream), cfg: cfg, ignore: map[string]bool{}}
	for _, l := range cfg.Ignore {
		t.ignore[l] = true
	}
	return t, nil
}

// Observe feeds one clip result of the Tracker's stream (an empty r.Stream is accepted), in order, and returns the events it causes: clip.scored
// first (when enabled), then action events in label order. A clip whose PTS goes backwards or
// jumps ahead by more than ResetGap first ends every active action (as Flush does). A result whose
// scores do not match its labels is rejected with ErrBadResult and changes nothing.
func (t *Tracker) Observe(r infer.ScoredClip) ([]Event, error) {
	if len(r.Labels) == 0 || len(r.Scores) != len(r.Labels) {
		return nil, fmt.Errorf("events: stream %s clip %d: %d scores for %d labels: %w",
			t.stream, r.Seq, len(r.Scores), len(r.Labels), ErrBadResult)
	}
	if r.Stream != "" && r.Stream != t.stream {
		return nil, fmt.Errorf("events: tracker of stream %s fed a clip of stream %s: %w", t.stream, r.Stream, ErrBadResult)
	}
	if r.End < r.Start {
		return nil, fmt.Errorf("events: stream %s clip %d: end PTS %v before start %v: %w",
			t.stream, r.Seq, r.End, r.Start, ErrBadResult)
	}
	var out []Event
	if t.seen && (r.End < t.lastEnd || r.Start-t.lastEnd > t.cfg.ResetGap.D()) {
		out = t.flush(out)
	}
	if !slices.Equal(t.labels, r.Labels) {
		out = t.flush(out)
		t.labels = slices.Clone(r.Labels)
		t.ring = make([]float32, t.cfg.Smoothing*len(r.Labels))
		t.states = make([]labelState, len(r.Labels))
	}
	t.seen, t.lastEnd = true, r.End
	t.gating = false
	t.model, t.digest = r.Model, r.ModelDigest

	if t.cfg.ClipScored {
		out = append(out, t.clipScored(r))
	}

	n := len(t.labels)
	row := t.ring[t.row*n : (t.row+1)*n]
	for i, s := range r.Scores {
		row[i] = infer.ClampScore(s)
	}
	t.row = (t.row + 1) % t.cfg.Smoothing
	t.filled = min(t.filled+1, t.cfg.Smoothing)

	for i := range t.states {
		if t.ignore[t.labels[i]] {
			continue
		}
		var sum float64
		for k := 0; k < t.filled; k++ {
			sum += float64(t.ring[k*n+i])
		}
		out = t.step(out, i, float32(sum/float64(t.filled)), r)
	}
	return out, nil
}

// step advances one label's state machine with its smoothed score at clip r.
func (t *Tracker) step(out []Event, i int, s float32, r infer.ScoredClip) []Event {
	st := &t.states[i]
	now := r.End
	on, off := float64(s) >= t.cfg.On, float64(s) >= t.cfg.Off
	st.score = s
	switch st.phase {
	case idle:
		if !on {
			return out
		}
		*st = labelState{phase: arming, armedAt: now, startPTS: r.Start, startWall: r.StartWall, peak: s, score: s}
	case arming:
		if !on {
			st.phase = idle
			return out
		}
	case active, cooling:
		if off {
			st.phase = active
			st.lastOnPTS, st.lastOnWal = now, r.EndWall
		} else if st.phase == active {
			st.phase, st.coolSince = cooling, now
		}
	}
	st.peak = max(st.peak, s)

	switch st.phase {
	case arming:
		if now-st.armedAt >= t.cfg.MinDuration.D() {
			st.phase = active
			st.lastOnPTS, st.lastOnWal = now, r.EndWall
			st.lastEmit = now
			out = append(out, t.actionEvent(TypeActionStarted, i, 0, now, r.EndWall))
		}
	case cooling:
		if now-st.coolSince >= t.cfg.Cooldown.D() {
			out = append(out, t.ended(i))
			st.phase = idle
			return out
		}
	}
	if st.phase != arming && st.phase != idle && t.cfg.UpdateInterval > 0 && now-st.lastEmit >= t.cfg.UpdateInterval.D() {
		st.updates++
		st.lastEmit = now
		out = append(out, t.actionEvent(TypeActionUpdated, i, st.updates, now, r.EndWall))
	}
	return out
}

// Gated tells the lifecycle that the clip spanning start..end (PTS) was not scored because
// nothing moved (motion gating), in order with the clips Observe sees. A gated clip has no
// scores: the smoothing window keeps what it holds and no action starts. Per label, an arming
// action goes back to idle; an active one starts cooling at the clip's end; a cooling one ends
// (action.ended at the end of its last clip >= Off) once the cool-down has passed, so gated
// clips and scored clips under Off count alike toward it. Once a run of gated clips has lasted
// the cool-down the smoothing window is cleared too, so scores from before a still period do
// not carry into the next motion. Stream time advances, so a long still period is no reset gap.
func (t *Tracker) Gated(start, end time.Duration) []Event {
	if end < start {
		return nil
	}
	var out []Event
	if t.seen && (end < t.lastEnd || start-t.lastEnd > t.cfg.ResetGap.D()) {
		out = t.flush(out)
	}
	if !t.gating {
		t.gating, t.gatedSince = true, end
	}
	t.seen, t.lastEnd = true, end
	for i := range t.states {
		st := &t.states[i]
		switch st.phase {
		case arming:
			st.phase = idle
		case active:
			st.phase, st.coolSince = cooling, end
		}
		if st.phase == cooling && end-st.coolSince >= t.cfg.Cooldown.D() {
			out = append(out, t.ended(i))
			st.phase = idle
		}
	}
	if end-t.gatedSince >= t.cfg.Cooldown.D() {
		clear(t.ring)
		t.filled, t.row = 0, 0
	}
	return out
}

// Flush ends every active action (action.ended at the end of its last clip >= Off) and forgets the
// smoothing window, so the next clip starts afresh. Call it when the stream goes down or its input
// ends; events of actions still arming are discarded.
func (t *Tracker) Flush() []Event { return t.flush(nil) }

func (t *Tracker) flush(out []Event) []Event {
	for i := range t.states {
		if p := t.states[i].phase; p == active || p == cooling {
			out = append(out, t.ended(i))
		}
		t.states[i] = labelState{}
	}
	clear(t.ring)
	t.filled, t.row, t.seen, t.gating = 0, 0, false, false
	return out
}

// Active lists the actions in progress, in label order.
func (t *Tracker) Active() []ActiveAction {
	var out []ActiveAction
	for i, st := range t.states {
		if st.phase == active || st.phase == cooling {
			out = append(out, ActiveAction{Label: t.labels[i], StartPTS: st.startPTS, StartWall: st.startWall, Score: st.score, Peak: st.peak})
		}
	}
	return out
}

func (t *Tracker) ended(i int) Event {
	st := &t.states[i]
	e := t.actionEvent(TypeActionEnded, i, 0, st.lastOnPTS, st.lastOnWal)
	e.Data.DurationSeconds = (st.lastOnPTS - st.startPTS).Seconds()
	return e
}

// actionEvent builds an action event for label i whose span runs from the action start to end.
func (t *Tracker) actionEvent(typ string, i, ordinal int, end time.Duration, endWall time.Time) Event {
	st := &t.states[i]
	d := Data{
		Stream: t.stream, Label: t.labels[i], Score: st.score, PeakScore: st.peak,
		Span:  &Span{StartWall: st.startWall.UTC(), EndWall: endWall.UTC(), StartPTS: st.startPTS.Seconds(), EndPTS: end.Seconds()},
		Model: t.model, ModelDigest: t.digest,
	}
	if typ != TypeActionStarted {
		d.DurationSeconds = (end - st.startPTS).Seconds()
	}
	if typ == TypeActionEnded {
		// The occurrence is the action's end; its score is the peak, a current score is meaningless.
		d.Score = st.peak
	}
	at := endWall
	if typ == TypeActionStarted {
		at = st.startWall
	}
	return New(t.source, typ, ActionID(t.stream, typ, t.labels[i], st.startPTS, st.startWall, ordinal), at, d)
}

func (t *Tracker) clipScored(r infer.ScoredClip) Event {
	top := r.TopK(t.cfg.TopK)
	d := Data{
		Stream: t.stream, Label: top[0].Label, Score: top[0].Score, TopK: top,
		Span:  &Span{StartWall: r.StartWall.UTC(), EndWall: r.EndWall.UTC(), StartPTS: r.Start.Seconds(), EndPTS: r.End.Seconds()},
		Model: r.Model, ModelDigest: r.ModelDigest,
	}
	return New(t.source, TypeClipScored, ClipID(t.stream, r.Start, r.End, r.StartWall), r.EndWall, d)
}
