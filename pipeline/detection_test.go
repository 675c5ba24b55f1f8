package pipeline

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/configs"
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
	// The measure (>= 0.80 of events, >= 0.90 of actors); this fixture must do better.
	q := measureActors(out.all(), func(pts float64) map[string]detect.Box {
		truth := map[string]detect.Box{}
		for l, b := range video.Truth(int(math.Round(pts * 30))) {
			truth[l] = b
		}
		return truth
	})
	if q.events != all || q.boxOK != all || q.actors != 2 || q.oneID != 2 {
		t.Errorf("measured %+v, want every one of %d events and both actors", q, all)
	}
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

// actorQuality is the done-when measure on one run's events. Of the per-actor action
// events, boxOK have a box with IoU >= 0.5 on the true box of the actor doing their action (so
// they also name that actor's action), at their key frame. Of the true actors (keyed by label:
// each actor of a synthetic video does a different action) seen in clip.scored, oneID were matched
// (IoU >= 0.5) by actors of one id only, through the video.
type actorQuality struct{ events, boxOK, actors, oneID int }

// measureActors computes actorQuality; truth gives the true boxes by label at a stream time.
func measureActors(evs []events.Event, truth func(pts float64) map[string]detect.Box) actorQuality {
	var q actorQuality
	ids := map[string]map[string]bool{} // true label -> actor ids matching it
	for _, e := range evs {
		if e.Data.KeyPTS == nil {
			continue
		}
		at := truth(*e.Data.KeyPTS)
		switch e.Type {
		case events.TypeActionStarted, events.TypeActionUpdated, events.TypeActionEnded:
			q.events++
			if want, ok := at[e.Data.Label]; ok && e.Data.Box != nil && detect.IoU(boxOf(e.Data.Box), want) >= 0.5 {
				q.boxOK++
			}
		case events.TypeClipScored:
			for label, want := range at {
				if ids[label] == nil {
					ids[label] = map[string]bool{}
				}
				for _, a := range e.Data.Actors {
					if detect.IoU(detect.Box{a.Box.X1, a.Box.Y1, a.Box.X2, a.Box.Y2}, want) >= 0.5 {
						ids[label][a.ActorID] = true
					}
				}
			}
		}
	}
	for _, matched := range ids {
		q.actors++
		if len(matched) == 1 {
			q.oneID++
		}
	}
	return q
}

// An RoI model with no person detector is refused at start, with the reason.
func TestRoIModelNeedsABoxSource(t *testing.T) {
	cfg := oneShotConfig(testkit.DetectionModel(t, testkit.DetectionRoI), "file:///nonexistent.mp4")
	_, err := New(Options{Config: cfg, OneShot: true, Sinks: []sink.Sink{&collect{}}})
	if !errors.Is(err, infer.ErrNoBoxSource) || !strings.Contains(err.Error(), "person detector") || !strings.Contains(err.Error(), "model.path") {
		t.Fatalf("err = %v, want ErrNoBoxSource naming model.path and the person detector", err)
	}
}

// runDetection runs cfg one-shot and returns its events.
func runDetection(t *testing.T, cfg configs.Config) *collect {
	t.Helper()
	out := &collect{}
	p, err := New(Options{Config: cfg, OneShot: true, Sinks: []sink.Sink{out}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return out
}

// RoI mode with detection.box_model: the single-stage model finds the actors, the RoI model names
// their actions.
func TestDetectionRoIWithBoxModel(t *testing.T) {
	video := testkit.TwoActors{}
	cfg := oneShotConfig(testkit.DetectionModel(t, testkit.DetectionRoI), video.Make(t, t.TempDir(), 4))
	cfg.Detection.BoxModel = testkit.DetectionModel(t, testkit.DetectionSingleStage)
	out := runDetection(t, cfg)
	started := out.ofType(events.TypeActionStarted)
	labels := map[string]string{}
	for _, e := range started {
		labels[e.Data.Label] = e.Data.ActorID
		truth := detect.Box(video.Truth(int(math.Round(*e.Data.KeyPTS * 30)))[e.Data.Label])
		if iou := detect.IoU(boxOf(e.Data.Box), truth); iou < 0.5 {
			t.Errorf("%s of actor %s: box IoU %.2f", e.Data.Label, e.Data.ActorID, iou)
		}
	}
	if len(started) != 2 || labels["wave"] == "" || labels["walk"] == "" || labels["wave"] == labels["walk"] {
		t.Fatalf("started %d actions %v, want wave and walk by two actors", len(started), labels)
	}
	for _, e := range out.ofType(events.TypeClipScored) {
		if e.Data.Model != "test-colour-detector-roi" || len(e.Data.Actors) != 2 {
			t.Errorf("clip.scored of %s with %d actors", e.Data.Model, len(e.Data.Actors))
		}
	}
	// A box model that is not single-stage is refused.
	cfg.Detection.BoxModel = testkit.DetectionModel(t, testkit.DetectionRoI)
	if _, err := New(Options{Config: cfg, OneShot: true, Sinks: []sink.Sink{&collect{}}}); !errors.Is(err, infer.ErrBadOptions) ||
		!strings.Contains(err.Error(), "detection.box_model") {
		t.Errorf("an RoI box model: err = %v", err)
	}
}

// RoI mode with a user-supplied person detector (infer/persondet's YOLOX fixture, whose kept
// person box is constant: centre (16,16), 16 px, on its 64 px input): the RoI model classifies
// that box, mapped from the crop to the frame.
func TestDetectionRoIWithPersonDetector(t *testing.T) {
	video := testkit.TwoActors{}
	cfg := oneShotConfig(testkit.DetectionModel(t, testkit.DetectionRoI), video.Make(t, t.TempDir(), 2))
	cfg.Detection.PersonDetector.Path = filepath.Join("..", "infer", "persondet", "testdata", "yolox.onnx")
	out := runDetection(t, cfg)
	scored := out.ofType(events.TypeClipScored)
	if len(scored) == 0 {
		t.Fatal("no clip scored")
	}
	w, h := video.Size()
	crop, err := detect.CropOf(w, h, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	want := crop.ToSource(detect.Box{0.125, 0.125, 0.375, 0.375})
	for _, e := range scored {
		var found bool
		for _, a := range e.Data.Actors {
			found = found || detect.IoU(detect.Box{a.Box.X1, a.Box.Y1, a.Box.X2, a.Box.Y2}, want) > 0.95
		}
		if !found {
			t.Errorf("clip.scored actors %+v: none at the person detector's box %v", e.Data.Actors, want)
		}
	}
}

// detection.max_actors caps the actors of every clip, best first.
func TestDetectionMaxActors(t *testing.T) {
	video := testkit.TwoActors{}
	cfg := oneShotConfig(testkit.DetectionModel(t, testkit.DetectionSingleStage), video.Make(t, t.TempDir(), 2))
	cfg.Detection.MaxActors = 1
	scored := runDetection(t, cfg).ofType(events.TypeClipScored)
	if len(scored) == 0 {
		t.Fatal("no clip scored")
	}
	for _, e := range scored {
		if len(e.Data.Actors) != 1 {
			t.Fatalf("clip.scored with %d actors under max_actors 1: %+v", len(e.Data.Actors), e.Data.Actors)
		}
	}
}
