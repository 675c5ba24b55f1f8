package events

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/detect"
)

// actor is a detection result: a box and scores for labels (wave, clap, idle).
func actor(x float32, scores ...float32) infer.Actor {
	return infer.Actor{Box: detect.Box{x, 0.2, x + 0.2, 0.6}, Score: 0.9, Scores: scores}
}

// detClip is clip k of a detection model with the given actors (clip scores: best per label).
func detClip(k int, actors ...infer.Actor) infer.ScoredClip {
	c := clip(k, 0, 0, 0)
	c.Actors = append([]infer.Actor{}, actors...)
	c.Key = c.Start + 600*time.Millisecond
	for _, a := range actors {
		for i, s := range a.Scores {
			c.Scores[i] = max(c.Scores[i], s)
		}
	}
	return c
}

func observeAll(t *testing.T, tr *Tracker, clips ...infer.ScoredClip) [][]Event {
	t.Helper()
	var out [][]Event
	for _, c := range clips {
		evs, err := tr.Observe(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if err := Validate(e); err != nil {
				t.Fatalf("clip %d: invalid event: %v", c.Seq, err)
			}
			b, _ := json.Marshal(e)
			if _, err := ParseJSON(b); err != nil {
				t.Fatalf("clip %d: event does not parse back: %v", c.Seq, err)
			}
		}
		out = append(out, evs)
	}
	return out
}

// Two actors starting the same action in one clip get two events with two ids, each with its
// actor_id and box; the lifecycle runs per actor, so one actor leaving ends only its action.
func TestPerActorLifecycle(t *testing.T) {
	tr := newTracker(t, func(c *Config) { c.ClipScored = true })
	var clips []infer.ScoredClip
	for k := range 4 { // both wave from clip 0
		clips = append(clips, detClip(k, actor(0.1, 0.9, 0, 0), actor(0.6, 0.8, 0.1, 0)))
	}
	for k := 4; k < 8; k++ { // the right-hand actor leaves
		clips = append(clips, detClip(k, actor(0.1, 0.9, 0, 0)))
	}
	per := observeAll(t, tr, clips...)

	started := map[string]Event{}
	var ended []Event
	for k, evs := range per {
		for _, e := range evs {
			switch e.Type {
			case TypeActionStarted:
				started[e.Data.ActorID] = e
			case TypeActionEnded:
				ended = append(ended, e)
				if k < 4 {
					t.Errorf("clip %d: an action ended while both actors wave", k)
				}
			case TypeClipScored:
				if want := len(clips[k].Actors); len(e.Data.Actors) != want || e.Data.KeyPTS == nil {
					t.Errorf("clip %d: clip.scored lists %d actors (key %v), want %d", k, len(e.Data.Actors), e.Data.KeyPTS, want)
				}
				for _, a := range e.Data.Actors {
					if a.Label != "wave" || a.ActorID == "" {
						t.Errorf("clip %d: clip.scored actor %+v", k, a)
					}
				}
			}
		}
	}
	one, two := started["1"], started["2"]
	if one.ID == "" || two.ID == "" || one.ID == two.ID {
		t.Fatalf("started: %+v; want actors 1 and 2 with distinct ids", started)
	}
	if one.Data.Label != "wave" || one.Data.Box == nil || one.Data.Box.X1 != 0.1 || two.Data.Box.X1 != 0.6 {
		t.Errorf("started events' boxes: %+v / %+v", one.Data.Box, two.Data.Box)
	}
	if one.Data.KeyPTS == nil || *one.Data.KeyPTS != 1.6 { // MinDuration 1 s: started at clip 1 (key 1.6 s)
		t.Errorf("started key_pts_s = %v, want 1.6", one.Data.KeyPTS)
	}
	if one.ID != ActorActionID("cam1", "1", TypeActionStarted, "wave", 0, epoch, 0) ||
		one.ID == ActionID("cam1", TypeActionStarted, "wave", 0, epoch, 0) {
		t.Errorf("actor 1's id %s is not ActorActionID with its actor", one.ID)
	}
	if len(ended) != 1 || ended[0].Data.ActorID != "2" {
		t.Fatalf("ended: %+v, want only actor 2's wave", ended)
	}
	if act := tr.Active(); len(act) != 1 || act[0].ActorID != "1" || act[0].Box == nil {
		t.Errorf("active: %+v, want actor 1's wave", act)
	}
	// Actor ids come from the boxes: clip 7's one actor is still actor 1.
	if a := tr.Actors(); len(a) != 1 || a[0].TrackID != 1 {
		t.Errorf("Actors after clip 7: %+v, want actor 1", a)
	}
	// Flush ends actor 1's action and restarts ids.
	fl := tr.Flush()
	if len(fl) != 1 || fl[0].Data.ActorID != "1" {
		t.Errorf("flush: %+v", fl)
	}
	again := detClip(20, actor(0.6, 0.1, 0, 0))
	observeAll(t, tr, again)
	if a := tr.Actors(); len(a) != 1 || a[0].TrackID != 1 {
		t.Errorf("after Flush the first actor: %+v, want id 1", a)
	}
}

// A detection clip without actors is not a classification clip: nothing starts for "the clip".
func TestDetectionWithoutActors(t *testing.T) {
	tr := newTracker(t, nil)
	c := detClip(0)
	c.Scores = []float32{0.9, 0, 0} // inconsistent clip scores are not a subject of their own
	per := observeAll(t, tr, c, detClip(1), detClip(2))
	for k, evs := range per {
		if len(evs) != 0 {
			t.Errorf("clip %d: %d events from a clip without actors", k, len(evs))
		}
	}
	bad := detClip(3, actor(0.1, 0.9))
	if _, err := tr.Observe(bad); err == nil {
		t.Error("an actor with 1 score for 3 labels was accepted")
	}
}

func TestValidateActorFields(t *testing.T) {
	tr := newTracker(t, func(c *Config) { c.ClipScored = true })
	evs, err := tr.Observe(detClip(0, actor(0.1, 0.9, 0, 0)))
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %v", evs, err)
	}
	e := evs[0]
	e.Data.Actors[0].Box.X2 = 1.5
	if Validate(e) == nil {
		t.Error("a box outside [0,1] passed")
	}
	e.Data.Actors = nil
	e.Data.ActorID = "1"
	if Validate(e) == nil {
		t.Error("actor_id without box passed")
	}
}
