package pipeline

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/detect"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/sink"
)

func boxOf(b *events.Box) detect.Box { return detect.Box{b.X1, b.Y1, b.X2, b.Y2} }

// `run` with a single-stage detection model on a two-actor video: every per-actor event's box
// overlaps the true box of the actor doing its action (at the event's key frame), and each true
// actor keeps one id through the video.
func TestDetectionRunTwoActors(t *testing.T) {
	video := testkit.TwoActors{}
	path := video.Make(t, t.TempDir(), 6)
	out := &collect{}
	cfg := oneShotConfig(testkit.DetectionModel(t, testkit.DetectionSingleStage), path)
	p, err := New(Options{Config: cfg, OneShot: true, Sinks: []sink.Sink{out}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	frame := func(e events.Event) int {
		if e.Data.KeyPTS == nil {
			t.Fatalf("%s event without key_pts_s: %+v", e.Type, e.Data)
		}
		return int(math.Round(*e.Data.KeyPTS * 30))
	}

	// clip.scored: every clip sees both actors; each true actor keeps one id.
	scored := out.ofType(events.TypeClipScored)
	if len(scored) < 10 {
		t.Fatalf("%d clips scored, want at least 10 from 6 s", len(scored))
	}
	ids := map[string]map[string]int{} // label -> actor id -> clips
	for _, e := range scored {
		truth := video.Truth(frame(e))
		if len(e.Data.Actors) != 2 {
			t.Errorf("clip at %.2f s lists %d actors, want 2: %+v", *e.Data.KeyPTS, len(e.Data.Actors), e.Data.Actors)
			continue
		}
		for _, a := range e.Data.Actors {
			want := detect.Box(truth[a.Label])
			if iou := detect.IoU(detect.Box{a.Box.X1, a.Box.Y1, a.Box.X2, a.Box.Y2}, want); iou < 0.5 {
				t.Errorf("clip at %.2f s: actor %s (%s) box %+v has IoU %.2f with the true %v", *e.Data.KeyPTS, a.ActorID, a.Label, a.Box, iou, want)
			}
			if ids[a.Label] == nil {
				ids[a.Label] = map[string]int{}
			}
			ids[a.Label][a.ActorID]++
		}
	}
	if len(ids["wave"]) != 1 || len(ids["walk"]) != 1 {
		t.Errorf("actor ids per true actor: %v, want one each", ids)
	}
	for id := range ids["wave"] {
		if ids["walk"][id] > 0 {
			t.Errorf("both actors were given id %s", id)
		}
	}

	// Action events: one started and one ended per actor, each with its own id, the actor's box.
	perActor := map[string][]events.Event{}
	var all, good int
	for _, typ := range []string{events.TypeActionStarted, events.TypeActionUpdated, events.TypeActionEnded} {
		for _, e := range out.ofType(typ) {
			if err := events.Validate(e); err != nil {
				t.Error(err)
			}
			if e.Data.ActorID == "" || e.Data.Box == nil {
				t.Fatalf("%s without actor_id or box: %+v", e.Type, e.Data)
			}
			perActor[e.Data.ActorID] = append(perActor[e.Data.ActorID], e)
			all++
			if detect.IoU(boxOf(e.Data.Box), detect.Box(video.Truth(frame(e))[e.Data.Label])) >= 0.5 {
				good++
			}
		}
	}
	t.Logf("%d clips scored, %d per-actor events, ids %v", len(scored), all, ids)
	if all == 0 || good != all {
		t.Errorf("%d of %d per-actor events have a box with IoU >= 0.5 on the true actor of their action", good, all)
	}
	if len(perActor) != 2 {
		t.Fatalf("action events of %d actors, want 2: %v", len(perActor), perActor)
	}
	seen := map[string]bool{}
	for id, evs := range perActor {
		var started, ended int
		for _, e := range evs {
			if seen[e.ID] {
				t.Errorf("event id %s twice", e.ID)
			}
			seen[e.ID] = true
			if e.Data.Label != evs[0].Data.Label {
				t.Errorf("actor %s does two actions: %s and %s", id, evs[0].Data.Label, e.Data.Label)
			}
			switch e.Type {
			case events.TypeActionStarted:
				started++
			case events.TypeActionEnded:
				ended++
			}
		}
		if started != 1 || ended != 1 {
			t.Errorf("actor %s: %d started, %d ended; want 1 each", id, started, ended)
		}
	}
}

// An RoI model with no person detector is refused at start, with the reason.
func TestRoIModelNeedsABoxSource(t *testing.T) {
	cfg := oneShotConfig(testkit.DetectionModel(t, testkit.DetectionRoI), "file:///nonexistent.mp4")
	_, err := New(Options{Config: cfg, OneShot: true, Sinks: []sink.Sink{&collect{}}})
	if !errors.Is(err, infer.ErrNoBoxSource) || !strings.Contains(err.Error(), "person detector") || !strings.Contains(err.Error(), "model.path") {
		t.Fatalf("err = %v, want ErrNoBoxSource naming model.path and the person detector", err)
	}
}
