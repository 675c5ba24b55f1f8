package eval

import (
	"testing"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/training/dataset"
)

// The run-level measure's counting rules, on hand-made events: an event counts when its box
// overlaps the true actor of its own action; an actor keeps one id when every clip's match (one box per actor, best IoU first)
// has the same id; an actor never matched is in Actors but not in Found.
func TestEventsReportCounts(t *testing.T) {
	truth := func(pts float64) ([]dataset.BoxActor, error) {
		return []dataset.BoxActor{
			{ID: 0, Label: "wave", Box: [4]float64{0, 0, 0.4, 0.4}},
			{ID: 1, Label: "walk", Box: [4]float64{0.6, 0.6, 1, 1}},
			{ID: 2, Label: "sit", Box: [4]float64{0.6, 0, 1, 0.3}}, // never detected
		}, nil
	}
	key := func(v float64) *float64 { return &v }
	onWave := events.Box{X1: 0.02, Y1: 0, X2: 0.4, Y2: 0.42}
	onWalk := events.Box{X1: 0.6, Y1: 0.62, X2: 1, Y2: 1}
	clip := func(pts float64, walkID string) events.Event {
		return events.Event{Type: events.TypeClipScored, Data: events.Data{KeyPTS: key(pts), Actors: []events.ActorScore{
			{ActorID: "1", Box: onWave, Label: "wave"}, {ActorID: walkID, Box: onWalk, Label: "walk"},
			{ActorID: "9", Box: events.Box{X1: 0.05, Y1: 0.05, X2: 0.3, Y2: 0.3}, Label: "wave"}, // a weaker duplicate
		}}}
	}
	act := func(typ, label string, b events.Box) events.Event {
		return events.Event{Type: typ, Data: events.Data{KeyPTS: key(1), Label: label, Box: &b}}
	}
	evs := []events.Event{
		clip(0.5, "2"), clip(1, "2"), clip(1.5, "3"), // walk changes id
		act(events.TypeActionStarted, "wave", onWave),
		act(events.TypeActionStarted, "walk", onWave), // the wrong actor's box
		act(events.TypeActionEnded, "walk", onWalk),
		{Type: events.TypeStreamUp},
	}
	r := EventsReport{IoU: 0.5}
	if err := r.add(evs, truth); err != nil {
		t.Fatal(err)
	}
	if r.Events != 3 || r.Matched != 2 || r.Clips != 3 || r.Actors != 3 || r.Found != 2 || r.OneID != 1 {
		t.Errorf("report %+v; want 3 events, 2 matched, 3 clips, 3 actors, 2 found, 1 with one id", r)
	}
}

// One box is one actor: over two overlapping true actors it counts for the one it overlaps best
// (the MOT benchmarks' one-to-one assignment), so the other does not take its id.
func TestEventsReportOneBoxOneActor(t *testing.T) {
	a := [4]float64{0, 0, 0.4, 0.4}
	b := [4]float64{0.05, 0, 0.45, 0.4} // IoU 0.78 with a
	truth := func(float64) ([]dataset.BoxActor, error) {
		return []dataset.BoxActor{{ID: 0, Label: "wave", Box: a}, {ID: 1, Label: "walk", Box: b}}, nil
	}
	key := 1.0
	boxOf := func(v [4]float64) events.Box {
		return events.Box{X1: float32(v[0]), Y1: float32(v[1]), X2: float32(v[2]), Y2: float32(v[3])}
	}
	evs := []events.Event{
		{Type: events.TypeClipScored, Data: events.Data{KeyPTS: &key, Actors: []events.ActorScore{{ActorID: "1", Box: boxOf(a)}}}},
		{Type: events.TypeClipScored, Data: events.Data{KeyPTS: &key, Actors: []events.ActorScore{{ActorID: "2", Box: boxOf(b)}, {ActorID: "1", Box: boxOf(a)}}}},
	}
	r := EventsReport{IoU: 0.5}
	if err := r.add(evs, truth); err != nil {
		t.Fatal(err)
	}
	if r.Actors != 2 || r.Found != 2 || r.OneID != 2 {
		t.Errorf("report %+v; want 2 actors found, each with one id", r)
	}
}
