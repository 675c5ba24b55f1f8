// Package track gives the actors a detection model finds stable ids across the clips of one
// stream. Pure Go; the action lifecycle (events) owns one Tracker per stream.
//
// The rule: a track keeps its last box and its velocity (the centre's move per clip: the first
// move as it is, then smoothed, half the latest move and half the velocity before; a detector's
// boxes jitter, and the raw move sent still actors' predictions astray), and predicts its box in
// the next clip by moving the last one by that velocity (so an actor crossing the frame in a few
// clips is not lost). Each clip, every (track, actor) pair whose boxes overlap (IoU of the
// prediction and the actor >= MinIoU) or whose centres are close (distance <= gate, in fractions
// of the frame) is a candidate, scored IoU + (1 - distance/gate) + ActionWeight × the cosine
// similarity of the actor's action scores and the track's (smoothed: half the latest, half the
// scores before); the gate is MaxCentreDistance for a track seen in the last clip and widens by
// as much for each clip it was missed in (an actor hidden behind another keeps moving). The
// action scores stand in for DeepSORT's appearance features: where two actors overlap and part,
// geometry cannot tell which is which, what each is doing mostly can. Candidates are taken
// greedily, confirmed tracks (matched in two clips or more) before tentative ones (seen once:
// most false boxes are), then best first, each track and actor at most once. (Taking recently
// seen tracks first, as DeepSORT's matching cascade does, kept fewer ids on synthetic two-actor
// videos: tried, dropped.)
//
// An actor left over starts a new track with the next id (1, 2, ...) only when its score reaches
// NewTrackScore (as in ByteTrack, a faint box may continue a track but not start one) and it does
// not overlap an actor given an id in this clip (matched, or new before it in the caller's order)
// by DuplicateIoU or more (a second peak on the same actor); otherwise it is no actor, id 0. A
// track left over is kept for Memory clips in which it is not seen, then forgotten. Ids are never
// reused within a Tracker; Reset (a reconnect, a new timeline) forgets every track and restarts
// ids at 1.
package track

import (
	"cmp"
	"math"
	"slices"

	"github.com/actionstream/actionstream/infer/detect"
)

// Defaults of Config. The score and duplicate thresholds were chosen on 120 two-actor videos of
// seed 13 through run (train eval --task events, models/README.md) and checked on seed 12.
const (
	DefaultMinIoU = 0.2
	// DefaultMaxCentreDistance covers an actor crossing the frame in about 4 s at the default hop
	// of X3D-XS (0.8 s) before the track has a velocity.
	DefaultMaxCentreDistance = 0.25
	DefaultMemory            = 3
	DefaultNewTrackScore     = 0.4
	DefaultDuplicateIoU      = 0.3
	DefaultActionWeight      = 1
)

// Config tunes the matching. Zero fields take the defaults.
type Config struct {
	MinIoU            float32 // a pair overlapping this much may match
	MaxCentreDistance float32 // a pair whose centres are this close (frame fractions) may match
	Memory            int     // clips a track survives unseen
	NewTrackScore     float32 // the score an unmatched actor needs to start a track
	DuplicateIoU      float32 // an unmatched actor overlapping a matched one this much is the same actor
	ActionWeight      float32 // the weight of action-score similarity in a match (negative: none)
}

func (c Config) withDefaults() Config {
	if c.MinIoU <= 0 {
		c.MinIoU = DefaultMinIoU
	}
	if c.MaxCentreDistance <= 0 {
		c.MaxCentreDistance = DefaultMaxCentreDistance
	}
	if c.Memory <= 0 {
		c.Memory = DefaultMemory
	}
	if c.NewTrackScore <= 0 {
		c.NewTrackScore = DefaultNewTrackScore
	}
	if c.DuplicateIoU <= 0 {
		c.DuplicateIoU = DefaultDuplicateIoU
	}
	if c.ActionWeight == 0 {
		c.ActionWeight = DefaultActionWeight
	}
	c.ActionWeight = max(c.ActionWeight, 0)
	return c
}

// Actor is one box of a clip to match: where it is (frame fractions), how sure the model is
// that an actor is there, and its action scores (one per class; may be nil).
type Actor struct {
	Box    detect.Box
	Score  float32
	Scores []float32
}

type trackState struct {
	id     int
	box    detect.Box // as last seen
	vx, vy float32    // the centre's move per clip
	missed int        // clips in a row without a match
	hits   int        // clips matched, the first included
	scores []float32  // action scores, smoothed
}

// predicted is where the track's box should be in the next clip.
func (tr trackState) predicted() detect.Box {
	k := float32(tr.missed + 1)
	dx, dy := tr.vx*k, tr.vy*k
	return detect.Box{tr.box[0] + dx, tr.box[1] + dy, tr.box[2] + dx, tr.box[3] + dy}
}

// Tracker holds one stream's tracks. Not safe for concurrent use.
type Tracker struct {
	cfg    Config
	tracks []trackState
	next   int
}

// velocitySmoothing is the latest move's weight in a track's velocity. On 120 held-out two-actor
// videos through run (train eval --task events), 0.5 kept one id for 80% of the actors where the raw
// move (1) kept 75%, on a second seed 83% against 82.5%.
const velocitySmoothing = 0.5

// New returns an empty Tracker.
func New(cfg Config) *Tracker { return &Tracker{cfg: cfg.withDefaults(), next: 1} }

// Update matches one clip's actors to the tracks and returns each actor's id, in the actors'
// order: 0 for an actor that is none (too faint to start a track, or a duplicate).
func (t *Tracker) Update(actors []Actor) []int {
	type pair struct {
		track, actor int
		confirmed    bool
		score        float32
	}
	var cands []pair
	for ti, tr := range t.tracks {
		pred := tr.predicted()
		gate := t.cfg.MaxCentreDistance * float32(1+tr.missed)
		for ai, a := range actors {
			iou := detect.IoU(pred, a.Box)
			d := centreDistance(pred, a.Box)
			if iou < t.cfg.MinIoU && !(d <= gate) {
				continue
			}
			score := iou + max(0, 1-d/gate) + t.cfg.ActionWeight*cosine(tr.scores, a.Scores)
			cands = append(cands, pair{ti, ai, tr.hits > 1, score})
		}
	}
	// Stable on equal keys: older tracks (lower index) and earlier actors first.
	slices.SortStableFunc(cands, func(a, b pair) int {
		if a.confirmed != b.confirmed {
			if a.confirmed {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.score, a.score)
	})
	ids := make([]int, len(actors))
	matched := make([]bool, len(t.tracks))
	for _, c := range cands {
		if matched[c.track] || ids[c.actor] != 0 {
			continue
		}
		tr := &t.tracks[c.track]
		matched[c.track], ids[c.actor] = true, tr.id
		ox, oy := tr.box.Centre()
		nx, ny := actors[c.actor].Box.Centre()
		k := float32(tr.missed + 1)
		w := float32(velocitySmoothing)
		if tr.hits == 1 {
			w = 1 // the first move is the only one known: an average with 0 would halve it
		}
		tr.vx = w*(nx-ox)/k + (1-w)*tr.vx
		tr.vy = w*(ny-oy)/k + (1-w)*tr.vy
		tr.box, tr.missed = actors[c.actor].Box, 0
		tr.hits++
		tr.scores = smoothScores(tr.scores, actors[c.actor].Scores)
	}
	kept := t.tracks[:0]
	for i, tr := range t.tracks {
		if !matched[i] {
			tr.missed++
		}
		if tr.missed <= t.cfg.Memory {
			kept = append(kept, tr)
		}
	}
	t.tracks = kept
	for ai, a := range actors { // in the caller's order: the decoder's is best first
		if ids[ai] != 0 || a.Score < t.cfg.NewTrackScore || t.duplicate(actors, ids, ai) {
			continue
		}
		ids[ai] = t.next
		t.tracks = append(t.tracks, trackState{id: t.next, box: a.Box, hits: 1, scores: slices.Clone(a.Scores)})
		t.next++
	}
	return ids
}

// duplicate: actor ai overlaps an actor given an id in this clip by DuplicateIoU or more.
func (t *Tracker) duplicate(actors []Actor, ids []int, ai int) bool {
	for j, id := range ids {
		if id != 0 && detect.IoU(actors[j].Box, actors[ai].Box) >= t.cfg.DuplicateIoU {
			return true
		}
	}
	return false
}

// Live lists the ids of the tracks kept now (seen within Memory clips), ascending.
func (t *Tracker) Live() []int {
	out := make([]int, len(t.tracks))
	for i, tr := range t.tracks {
		out[i] = tr.id
	}
	slices.Sort(out)
	return out
}

// Reset forgets every track; the next id is 1 again.
func (t *Tracker) Reset() {
	t.tracks = t.tracks[:0]
	t.next = 1
}

// smoothScores is half the track's scores, half the latest (the latest alone when the class
// count differs: a new model).
func smoothScores(track, latest []float32) []float32 {
	if len(track) != len(latest) {
		return slices.Clone(latest)
	}
	for i, v := range latest {
		track[i] = (track[i] + v) / 2
	}
	return track
}

// cosine is the cosine similarity of a and b, 0 where either is empty or zero or they differ in
// length.
func cosine(a, b []float32) float32 {
	if len(a) == 0 || len(a) != len(b) {
		return 0
	}
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return float32(ab / math.Sqrt(aa*bb))
}

func centreDistance(a, b detect.Box) float32 {
	ax, ay := a.Centre()
	bx, by := b.Centre()
	return float32(math.Hypot(float64(ax-bx), float64(ay-by)))
}
