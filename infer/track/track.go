// Package track gives the actors a detection model finds stable ids across the clips of one
// stream. Pure Go; the action lifecycle (events) owns one Tracker per stream.
//
// The rule: a track keeps its last box. Each clip, every (track, actor) pair that overlaps (IoU >=
// MinIoU) or whose centres are close (distance <= MaxCentreDistance, in fractions of the frame) is
// a candidate, scored IoU + (1 - distance/MaxCentreDistance); candidates are taken greedily, best
// first, each track and actor at most once. An actor left over starts a new track with the next
// id (1, 2, ...); a track left over is kept for Memory clips in which it is not seen, then
// forgotten. Ids are never reused within a Tracker; Reset (a reconnect, a new timeline) forgets
// every track and restarts ids at 1.
package track

import (
	"cmp"
	"math"
	"slices"

	"github.com/actionstream/actionstream/infer/detect"
)

// Defaults of Config.
const (
	DefaultMinIoU            = 0.2
	DefaultMaxCentreDistance = 0.15
	DefaultMemory            = 3
)

// Config tunes the matching. Zero fields take the defaults.
type Config struct {
	MinIoU            float32 // a pair overlapping this much may match
	MaxCentreDistance float32 // a pair whose centres are this close (frame fractions) may match
	Memory            int     // clips a track survives unseen
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
	return c
}

type trackState struct {
	id     int
	box    detect.Box
	missed int // clips in a row without a match
}

// Tracker holds one stream's tracks. Not safe for concurrent use.
type Tracker struct {
	cfg    Config
	tracks []trackState
	next   int
}

// New returns an empty Tracker.
func New(cfg Config) *Tracker { return &Tracker{cfg: cfg.withDefaults(), next: 1} }

// Update matches one clip's boxes (frame fractions) to the tracks and returns each box's id, in
// the boxes' order.
func (t *Tracker) Update(boxes []detect.Box) []int {
	type pair struct {
		track, box int
		score      float32
	}
	var cands []pair
	for ti, tr := range t.tracks {
		for bi, b := range boxes {
			iou := detect.IoU(tr.box, b)
			d := centreDistance(tr.box, b)
			if iou < t.cfg.MinIoU && !(d <= t.cfg.MaxCentreDistance) {
				continue
			}
			cands = append(cands, pair{ti, bi, iou + max(0, 1-d/t.cfg.MaxCentreDistance)})
		}
	}
	// Stable on equal scores: older tracks (lower index) and earlier boxes first.
	slices.SortStableFunc(cands, func(a, b pair) int { return cmp.Compare(b.score, a.score) })
	ids := make([]int, len(boxes))
	matched := make([]bool, len(t.tracks))
	for _, c := range cands {
		if matched[c.track] || ids[c.box] != 0 {
			continue
		}
		matched[c.track], ids[c.box] = true, t.tracks[c.track].id
		t.tracks[c.track].box, t.tracks[c.track].missed = boxes[c.box], 0
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
	for bi, b := range boxes {
		if ids[bi] == 0 {
			ids[bi] = t.next
			t.tracks = append(t.tracks, trackState{id: t.next, box: b})
			t.next++
		}
	}
	return ids
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

func centreDistance(a, b detect.Box) float32 {
	ax, ay := a.Centre()
	bx, by := b.Centre()
	return float32(math.Hypot(float64(ax-bx), float64(ay-by)))
}
