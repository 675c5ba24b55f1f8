package track

import (
	"slices"
	"testing"

	"github.com/actionstream/actionstream/infer/detect"
)

func box(cx, cy, side float32) detect.Box {
	return detect.Box{cx - side/2, cy - side/2, cx + side/2, cy + side/2}
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
		ids := tr.Update(boxes)
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
	if ids := tr.Update([]detect.Box{a}); ids[0] != 1 {
		t.Fatal(ids)
	}
	tr.Update(nil)
	tr.Update(nil)
	if ids := tr.Update([]detect.Box{a}); ids[0] != 1 {
		t.Fatalf("after 2 missed clips: id %d, want 1 (memory 2)", ids[0])
	}
	for range 3 {
		tr.Update(nil)
	}
	if live := tr.Live(); len(live) != 0 {
		t.Fatalf("live after 3 missed clips: %v", live)
	}
	if ids := tr.Update([]detect.Box{a}); ids[0] != 2 {
		t.Fatalf("after the track was forgotten: id %d, want a new id 2", ids[0])
	}
	tr.Reset()
	if ids := tr.Update([]detect.Box{a}); ids[0] != 1 {
		t.Fatalf("after Reset: id %d, want 1", ids[0])
	}
}

// A far jump is a new actor; a small box that moved more than it is wide still matches by its
// centre; one track never takes two boxes.
func TestMatchingRules(t *testing.T) {
	tr := New(Config{})
	tr.Update([]detect.Box{box(0.2, 0.2, 0.05)})
	if ids := tr.Update([]detect.Box{box(0.28, 0.2, 0.05)}); ids[0] != 1 {
		t.Errorf("small box moved 0.08 (no overlap, centre close): id %d, want 1", ids[0])
	}
	if ids := tr.Update([]detect.Box{box(0.8, 0.8, 0.05)}); ids[0] != 2 {
		t.Errorf("a box far away: id %d, want a new id 2", ids[0])
	}
	tr = New(Config{})
	tr.Update([]detect.Box{box(0.5, 0.5, 0.3)})
	ids := tr.Update([]detect.Box{box(0.52, 0.5, 0.3), box(0.45, 0.5, 0.3)})
	if ids[0] != 1 || ids[1] != 2 {
		t.Errorf("two boxes on one track: ids %v, want the better match [1 2]", ids)
	}
}
