package track

import (
	"slices"
	"testing"

	"github.com/actionstream/actionstream/infer/detect"
)

func box(cx, cy, side float32) detect.Box {
	return detect.Box{cx - side/2, cy - side/2, cx + side/2, cy + side/2}
}

// seen: boxes the model is sure of.
func seen(boxes ...detect.Box) []Actor {
	out := make([]Actor, len(boxes))
	for i, b := range boxes {
		out[i] = Actor{Box: b, Score: 1}
	}
	return out
}

// Two actors moving steadily keep their ids, whatever order the detector lists them in.
func TestTwoActorsKeepIDs(t *testing.T) {
	tr := New(Config{})
	var first []int
	for k := range 20 {
		a := box(0.2+0.02*float32(k), 0.3, 0.2)  // moves right
		b := box(0.8-0.02*float32(k), 0.7, 0.15) // moves left, below
		boxes := []detect.Box{a, b}
		if k%2 == 1 {
			boxes = []detect.Box{b, a}
		}
		ids := tr.Update(seen(boxes...))
		if k%2 == 1 {
			ids[0], ids[1] = ids[1], ids[0]
		}
		if k == 0 {
			first = ids
			if !slices.Equal(ids, []int{1, 2}) {
				t.Fatalf("first ids %v, want [1 2]", ids)
			}
			continue
		}
		if !slices.Equal(ids, first) {
			t.Fatalf("clip %d: ids %v, want %v", k, ids, first)
		}
	}
}

// A track survives Memory clips unseen, then a new actor there gets a new id; ids are not reused.
func TestMemory(t *testing.T) {
	tr := New(Config{Memory: 2})
	a := box(0.5, 0.5, 0.2)
	if ids := tr.Update(seen(a)); ids[0] != 1 {
		t.Fatal(ids)
	}
	tr.Update(nil)
	tr.Update(nil)
	if ids := tr.Update(seen(a)); ids[0] != 1 {
		t.Fatalf("after 2 missed clips: id %d, want 1 (memory 2)", ids[0])
	}
	for range 3 {
		tr.Update(nil)
	}
	if live := tr.Live(); len(live) != 0 {
		t.Fatalf("live after 3 missed clips: %v", live)
	}
	if ids := tr.Update(seen(a)); ids[0] != 2 {
		t.Fatalf("after the track was forgotten: id %d, want a new id 2", ids[0])
	}
	tr.Reset()
	if ids := tr.Update(seen(a)); ids[0] != 1 {
		t.Fatalf("after Reset: id %d, want 1", ids[0])
	}
}

// A far jump is a new actor; a small box that moved more than it is wide still matches by its
// centre; one track never takes two boxes.
func TestMatchingRules(t *testing.T) {
	tr := New(Config{})
	tr.Update(seen(box(0.2, 0.2, 0.05)))
	if ids := tr.Update(seen(box(0.28, 0.2, 0.05))); ids[0] != 1 {
		t.Errorf("small box moved 0.08 (no overlap, centre close): id %d, want 1", ids[0])
	}
	if ids := tr.Update(seen(box(0.8, 0.8, 0.05))); ids[0] != 2 {
		t.Errorf("a box far away: id %d, want a new id 2", ids[0])
	}
	tr = New(Config{})
	tr.Update(seen(box(0.5, 0.5, 0.3)))
	ids := tr.Update(seen(box(0.52, 0.5, 0.3), box(0.45, 0.5, 0.3), box(0.5, 0.9, 0.1)))
	if !slices.Equal(ids, []int{1, 0, 2}) {
		t.Errorf("two overlapping boxes on one track and one apart: ids %v, want the better match 1, the other a duplicate (0), a new actor 2", ids)
	}
}

// A fast actor (0.2 of the frame per clip, more than its width) keeps its id: the track predicts
// its next box from its velocity, also across a clip it was missed in.
func TestVelocityPrediction(t *testing.T) {
	tr := New(Config{})
	x := float32(0.1)
	for k := range 5 {
		var boxes []detect.Box
		if k != 3 { // missed once
			boxes = []detect.Box{box(x, 0.5, 0.1)}
		}
		ids := tr.Update(seen(boxes...))
		if len(boxes) == 1 && ids[0] != 1 {
			t.Fatalf("clip %d at x %.2f: id %d, want 1", k, x, ids[0])
		}
		x += 0.2
	}
	// Two actors crossing (one above the other) keep theirs.
	tr = New(Config{})
	for k := range 8 {
		a := box(0.1+0.1*float32(k), 0.35, 0.12)
		b := box(0.8-0.1*float32(k), 0.6, 0.12)
		if ids := tr.Update(seen(a, b)); ids[0] != 1 || ids[1] != 2 {
			t.Fatalf("crossing, clip %d: ids %v, want [1 2]", k, ids)
		}
	}
}

// Two actors crossing on one line: while one hides behind the other (one box for both), the one
// seen keeps its track, and the hidden one gets its own id back when it reappears beyond the
// crossing (its gate widens while it is missed).
func TestOcclusionWhileCrossing(t *testing.T) {
	tr := New(Config{})
	right := func(k int) detect.Box { return box(0.2+0.09*float32(k), 0.5, 0.14) }
	left := func(k int) detect.Box { return box(0.8-0.09*float32(k), 0.5, 0.14) }
	if ids := tr.Update(seen(right(0), left(0))); ids[0] != 1 || ids[1] != 2 {
		t.Fatal(ids)
	}
	if ids := tr.Update(seen(right(1), left(1))); ids[0] != 1 || ids[1] != 2 {
		t.Fatal(ids)
	}
	for k := 2; k <= 4; k++ { // the left-moving actor is hidden
		if ids := tr.Update(seen(right(k))); ids[0] != 1 {
			t.Fatalf("clip %d: the visible actor got id %d, want 1", k, ids[0])
		}
	}
	if ids := tr.Update(seen(right(5), left(5))); ids[0] != 1 || ids[1] != 2 {
		t.Fatalf("after the crossing: ids %v, want [1 2]", ids)
	}
}

// A faint box may continue a track but not start one.
func TestNewTrackScore(t *testing.T) {
	tr := New(Config{})
	a := box(0.3, 0.3, 0.2)
	if ids := tr.Update([]Actor{{Box: a, Score: DefaultNewTrackScore - 0.05}}); ids[0] != 0 {
		t.Fatalf("a faint box far from any track: id %d, want 0 (no actor)", ids[0])
	}
	if live := tr.Live(); len(live) != 0 {
		t.Fatalf("live after a faint box: %v", live)
	}
	if ids := tr.Update([]Actor{{Box: a, Score: DefaultNewTrackScore}}); ids[0] != 1 {
		t.Fatalf("a box at the threshold: id %d, want 1", ids[0])
	}
	if ids := tr.Update([]Actor{{Box: a, Score: 0.1}}); ids[0] != 1 {
		t.Fatalf("a faint box on the track: id %d, want 1", ids[0])
	}
}

// A box seen once (most false boxes are) does not take an actor from a confirmed track: an actor
// missed for a clip comes back beside a stray box's track, nearer to it than to its own
// prediction, and keeps its id.
func TestConfirmedTracksFirst(t *testing.T) {
	tr := New(Config{})
	if ids := tr.Update(seen(box(0.2, 0.5, 0.2), box(0.45, 0.5, 0.2))); !slices.Equal(ids, []int{1, 2}) {
		t.Fatal(ids)
	}
	tr.Update(seen(box(0.26, 0.5, 0.2))) // track 1 confirmed; track 2 (the stray) unseen
	tr.Update(nil)                       // the actor is missed
	if ids := tr.Update(seen(box(0.44, 0.5, 0.2))); ids[0] != 1 {
		t.Fatalf("the actor back: id %d, want 1 (the confirmed track), not the stray's 2", ids[0])
	}
}

// The first move sets a track's velocity in full: a fast actor seen twice is predicted where it
// goes, not half way.
func TestFirstMoveVelocity(t *testing.T) {
	tr := New(Config{})
	tr.Update(seen(box(0.1, 0.5, 0.08)))
	tr.Update(seen(box(0.3, 0.5, 0.08)))
	// A second actor sits half way along the predicted path; the fast one arrives where predicted.
	if ids := tr.Update(seen(box(0.4, 0.5, 0.08), box(0.5, 0.5, 0.08))); ids[1] != 1 || ids[0] != 2 {
		t.Fatalf("ids %v, want the fast actor (at 0.5) 1 and the new one 2", ids)
	}
}

// Where two actors overlap and part, geometry cannot tell which is which; the action scores can:
// the track keeps the actor doing what it was doing, though the other stays where the box was
// (and is, while the two still overlap this much, a duplicate: no actor yet).
func TestActionScoresTellOverlappingActorsApart(t *testing.T) {
	wave, sit := []float32{1, 0}, []float32{0, 1}
	at := box(0.5, 0.5, 0.3)
	moved := box(0.55, 0.5, 0.3) // IoU 0.71 with at
	for _, c := range []struct {
		weight float32
		want   []int
	}{{0, []int{0, 1}}, {-1, []int{1, 0}}} {
		tr := New(Config{ActionWeight: c.weight})
		for range 3 { // one box over both: the waving actor's
			tr.Update([]Actor{{Box: at, Score: 1, Scores: wave}})
		}
		ids := tr.Update([]Actor{{Box: at, Score: 1, Scores: sit}, {Box: moved, Score: 1, Scores: wave}})
		if !slices.Equal(ids, c.want) {
			t.Errorf("action weight %v: ids %v, want %v", c.weight, ids, c.want)
		}
	}
}
