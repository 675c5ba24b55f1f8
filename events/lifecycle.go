package events

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/detect"
	"github.com/actionstream/actionstream/infer/track"
)

// ActiveAction is an action in progress, for state stores and dashboards.
type ActiveAction struct {
	Label     string
	StartPTS  time.Duration
	StartWall time.Time
	Score     float32 // current smoothed score
	Peak      float32
	// ActorID and Box (detection models): who does it, and where at the last clip it was seen.
	ActorID string
	Box     *Box
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
// The lifecycle runs per subject: the whole clip for a classification model, each actor (by its
// track id, see infer/track) for a detection model. Per subject and label the smoothed score is the
// mean of the last Smoothing clips (an actor not in a clip scores 0 there). An action starts when
// the smoothed score has stayed >= On for MinDuration of stream time (measured between clip ends),
// and ends when it has stayed < Off for Cooldown; scores between Off and On keep the current state
// (hysteresis), so a score hovering around one threshold cannot flap. The action's start is the
// start of the first clip >= On; its end is the end of the last clip >= Off.
type Tracker struct {
	stream string
	source string
	cfg    Config
	ignore map[string]bool

	labels   []string
	subjects []*subject // ascending actor id; the whole clip is actor 0
	actors   *track.Tracker
	current  []infer.Actor // the latest clip's tracked actors (nil: a classification model)

	seen          bool
	lastEnd       time.Duration
	model, digest string
	// gatedSince is the end of the first clip of the current run of gated clips (gating true).
	gatedSince time.Duration
	gating     bool
}

// subject is one lifecycle: the whole clip (actor 0) or one tracked actor.
type subject struct {
	actor  int
	ring   []float32 // Smoothing rows of len(labels) scores
	filled int       // rows in use
	row    int       // next row to overwrite
	states []labelState
	box    *Box          // detection: the actor's box when last seen
	key    time.Duration // the key-frame PTS of box
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
	t := &Tracker{stream: stream, source: SourceFor(cfg.Source, stream), cfg: cfg, ignore: map[string]bool{}, actors: track.New(track.Config{})}
	for _, l := range cfg.Ignore {
		t.ignore[l] = true
	}
	return t, nil
}

// Observe feeds one clip result of the Tracker's stream (an empty r.Stream is accepted), in order, and returns the events it causes: clip.scored
// first (when enabled), then action events in actor then label order. A clip of a detection model
// (r.Actors not nil) first has its actors matched to tracks (Actors lists them after). A clip
// whose PTS goes backwards or jumps ahead by more than ResetGap first ends every active action (as
// Flush does). A result whose scores do not match its labels is rejected with ErrBadResult and
// changes nothing.
func (t *Tracker) Observe(r infer.ScoredClip) ([]Event, error) {
	if len(r.Labels) == 0 || len(r.Scores) != len(r.Labels) {
		return nil, fmt.Errorf("events: stream %s clip %d: %d scores for %d labels: %w",
			t.stream, r.Seq, len(r.Scores), len(r.Labels), ErrBadResult)
	}
	for i, a := range r.Actors {
		if len(a.Scores) != len(r.Labels) {
			return nil, fmt.Errorf("events: stream %s clip %d: actor %d has %d scores for %d labels: %w",
				t.stream, r.Seq, i, len(a.Scores), len(r.Labels), ErrBadResult)
		}
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
		t.subjects = nil
	}
	t.seen, t.lastEnd = true, r.End
	t.gating = false
	t.model, t.digest = r.Model, r.ModelDigest

	// Which subject scores what in this clip.
	present := map[int][]float32{}
	if r.Actors == nil {
		present[0] = r.Scores
	} else {
		found := make([]track.Actor, len(r.Actors))
		for i, a := range r.Actors {
			found[i] = track.Actor{Box: a.Box, Score: a.Score, Scores: a.Scores}
		}
		// The tracker's verdict: an actor it gives no id (a duplicate, too faint to be new) is none.
		ids := t.actors.Update(found)
		kept := make([]infer.Actor, 0, len(r.Actors))
		for i, id := range ids {
			if id == 0 {
				continue
			}
			a := r.Actors[i]
			a.TrackID = id
			kept = append(kept, a)
			present[id] = a.Scores
			sub := t.subject(id)
			sub.box, sub.key = boxOf(a.Box), r.Key
		}
		r.Actors = kept
	}
	t.current = r.Actors
	if t.cfg.ClipScored {
		out = append(out, t.clipScored(r))
	}

	n := len(t.labels)
	subs := t.subjectsFor(present)
	kept := subs[:0]
	for _, sub := range subs {
		scores, here := present[sub.actor]
		row := sub.ring[sub.row*n : (sub.row+1)*n]
		for i := range row {
			row[i] = 0 // absent: not doing anything
			if here {
				row[i] = infer.ClampScore(scores[i])
			}
		}
		sub.row = (sub.row + 1) % t.cfg.Smoothing
		sub.filled = min(sub.filled+1, t.cfg.Smoothing)
		busy := false
		for i := range sub.states {
			if t.ignore[t.labels[i]] {
				continue
			}
			var sum float64
			for k := 0; k < sub.filled; k++ {
				sum += float64(sub.ring[k*n+i])
			}
			out = t.step(out, sub, i, float32(sum/float64(sub.filled)), r)
			busy = busy || sub.states[i].phase != idle
		}
		// An actor gone from the picture with nothing in progress is forgotten.
		if here || busy || sub.actor == 0 {
			kept = append(kept, sub)
		}
	}
	clear(subs[len(kept):])
	t.subjects = kept
	return out, nil
}

// Actors are the latest clip's actors with their track ids, those the tracker took for actors
// (nil after a classification model's clip). The slice is the Tracker's; do not change it.
func (t *Tracker) Actors() []infer.Actor { return t.current }

// subject returns actor id's lifecycle, created (in id order) when new.
func (t *Tracker) subject(id int) *subject {
	i, found := slices.BinarySearchFunc(t.subjects, id, func(s *subject, id int) int { return s.actor - id })
	if found {
		return t.subjects[i]
	}
	n := len(t.labels)
	sub := &subject{actor: id, ring: make([]float32, t.cfg.Smoothing*n), states: make([]labelState, n)}
	t.subjects = slices.Insert(t.subjects, i, sub)
	return sub
}

// subjectsFor makes sure every present subject exists and returns them all, in id order.
func (t *Tracker) subjectsFor(present map[int][]float32) []*subject {
	for id := range present {
		t.subject(id)
	}
	return t.subjects
}

func boxOf(b detect.Box) *Box { return &Box{X1: b[0], Y1: b[1], X2: b[2], Y2: b[3]} }

// actorID is the event's actor_id: the track id, "" for the whole clip.
func actorID(actor int) string {
	if actor == 0 {
		return ""
	}
	return strconv.Itoa(actor)
}

// step advances one label's state machine with its smoothed score at clip r.
func (t *Tracker) step(out []Event, sub *subject, i int, s float32, r infer.ScoredClip) []Event {
	st := &sub.states[i]
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
			out = append(out, t.actionEvent(TypeActionStarted, sub, i, 0, now, r.EndWall))
		}
	case cooling:
		if now-st.coolSince >= t.cfg.Cooldown.D() {
			out = append(out, t.ended(sub, i))
			st.phase = idle
			return out
		}
	}
	if st.phase != arming && st.phase != idle && t.cfg.UpdateInterval > 0 && now-st.lastEmit >= t.cfg.UpdateInterval.D() {
		st.updates++
		st.lastEmit = now
		out = append(out, t.actionEvent(TypeActionUpdated, sub, i, st.updates, now, r.EndWall))
	}
	return out
}

// Gated tells the lifecycle that the clip spanning start..end (PTS) was not scored because
// nothing moved (motion gating), in order with the clips Observe sees. A gated clip has no
// scores: the smoothing window keeps what it holds and no action starts. Per actor and label, an arming
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
	for _, sub := range t.subjects {
		for i := range sub.states {
			st := &sub.states[i]
			switch st.phase {
			case arming:
				st.phase = idle
			case active:
				st.phase, st.coolSince = cooling, end
			}
			if st.phase == cooling && end-st.coolSince >= t.cfg.Cooldown.D() {
				out = append(out, t.ended(sub, i))
				st.phase = idle
			}
		}
		if end-t.gatedSince >= t.cfg.Cooldown.D() {
			clear(sub.ring)
			sub.filled, sub.row = 0, 0
		}
	}
	return out
}

// Flush ends every active action (action.ended at the end of its last clip >= Off) and forgets the
// smoothing window and the actors' tracks, so the next clip starts afresh (actor ids restart at 1).
// Call it when the stream goes down or its input ends; events of actions still arming are
// discarded.
func (t *Tracker) Flush() []Event { return t.flush(nil) }

func (t *Tracker) flush(out []Event) []Event {
	for _, sub := range t.subjects {
		for i := range sub.states {
			if p := sub.states[i].phase; p == active || p == cooling {
				out = append(out, t.ended(sub, i))
			}
		}
	}
	t.subjects = nil
	t.actors.Reset()
	t.seen, t.gating = false, false
	return out
}

// Active lists the actions in progress, in actor then label order.
func (t *Tracker) Active() []ActiveAction {
	var out []ActiveAction
	for _, sub := range t.subjects {
		for i, st := range sub.states {
			if st.phase == active || st.phase == cooling {
				out = append(out, ActiveAction{Label: t.labels[i], StartPTS: st.startPTS, StartWall: st.startWall,
					Score: st.score, Peak: st.peak, ActorID: actorID(sub.actor), Box: sub.box})
			}
		}
	}
	return out
}

func (t *Tracker) ended(sub *subject, i int) Event {
	st := &sub.states[i]
	e := t.actionEvent(TypeActionEnded, sub, i, 0, st.lastOnPTS, st.lastOnWal)
	e.Data.DurationSeconds = (st.lastOnPTS - st.startPTS).Seconds()
	return e
}

// actionEvent builds an action event for label i of sub whose span runs from the action start to
// end.
func (t *Tracker) actionEvent(typ string, sub *subject, i, ordinal int, end time.Duration, endWall time.Time) Event {
	st := &sub.states[i]
	d := Data{
		Stream: t.stream, Label: t.labels[i], Score: st.score, PeakScore: st.peak,
		Span:  &Span{StartWall: st.startWall.UTC(), EndWall: endWall.UTC(), StartPTS: st.startPTS.Seconds(), EndPTS: end.Seconds()},
		Model: t.model, ModelDigest: t.digest,
	}
	if sub.actor != 0 {
		d.ActorID, d.Box = actorID(sub.actor), sub.box
		key := sub.key.Seconds()
		d.KeyPTS = &key
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
	return New(t.source, typ, ActorActionID(t.stream, d.ActorID, typ, t.labels[i], st.startPTS, st.startWall, ordinal), at, d)
}

func (t *Tracker) clipScored(r infer.ScoredClip) Event {
	top := r.TopK(t.cfg.TopK)
	d := Data{
		Stream: t.stream, Label: top[0].Label, Score: top[0].Score, TopK: top,
		Span:  &Span{StartWall: r.StartWall.UTC(), EndWall: r.EndWall.UTC(), StartPTS: r.Start.Seconds(), EndPTS: r.End.Seconds()},
		Model: r.Model, ModelDigest: r.ModelDigest,
	}
	if r.Actors != nil {
		key := r.Key.Seconds()
		d.KeyPTS = &key
		d.Actors = make([]ActorScore, 0, len(r.Actors))
		for _, a := range r.Actors {
			best := infer.TopK(t.labels, a.Scores, 1)[0]
			d.Actors = append(d.Actors, ActorScore{ActorID: actorID(a.TrackID), Box: *boxOf(a.Box), Label: best.Label, Score: best.Score})
		}
	}
	return New(t.source, TypeClipScored, ClipID(t.stream, r.Start, r.End, r.StartWall), r.EndWall, d)
}
