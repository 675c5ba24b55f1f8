package events

import (
	"reflect"
	"testing"
	"time"
)

// gatedAt tells tr that clip k (k..k+1.2 s) was gated and returns its events.
func gatedAt(tr *Tracker, k int) []Event {
	start := time.Duration(k) * time.Second
	return tr.Gated(start, start+1200*time.Millisecond)
}

func TestGatedClipsEndAnActionAfterTheCooldown(t *testing.T) {
	tr := newTracker(t, nil) // On 0.6, Off 0.4, MinDuration 1s, Cooldown 2s, no smoothing
	per := run(t, tr, []float32{.9, .9, .9}) // started at clip 1
	if got := types(per); !reflect.DeepEqual(got, []string{"1:action.started"}) {
		t.Fatalf("events %v", got)
	}
	// Clips 3..6 are gated: cooling from clip 3's end (4.2 s); 2 s later is clip 5.
	var got []string
	for k := 3; k <= 6; k++ {
		for _, e := range gatedAt(tr, k) {
			got = append(got, e.Type)
			if e.Type == TypeActionEnded && (e.Data.Span.EndPTS != 3.2 || e.Data.Label != "wave") {
				t.Errorf("ended at %v (%s), want the end of clip 2, the last one scored >= Off", e.Data.Span.EndPTS, e.Data.Label)
			}
			if k != 5 {
				t.Errorf("an event at gated clip %d, want clip 5", k)
			}
		}
	}
	if !reflect.DeepEqual(got, []string{TypeActionEnded}) || len(tr.Active()) != 0 {
		t.Fatalf("gated clips gave %v, active %v", got, tr.Active())
	}
}

func TestAPauseShorterThanTheCooldownKeepsTheAction(t *testing.T) {
	tr := newTracker(t, nil)
	run(t, tr, []float32{.9, .9, .9})
	if evs := gatedAt(tr, 3); len(evs) != 0 {
		t.Fatalf("one gated clip: %v", evs)
	}
	evs, err := tr.Observe(clip(4, .9, 0, 0))
	if err != nil || len(evs) != 0 || len(tr.Active()) != 1 {
		t.Fatalf("motion again within the cool-down: events %v, err %v, active %v", evs, err, tr.Active())
	}
}

func TestGatedClipsStartNothingAndClearStaleScores(t *testing.T) {
	tr := newTracker(t, func(c *Config) { c.Smoothing = 3 })
	run(t, tr, []float32{.9}) // arming
	if evs := gatedAt(tr, 1); len(evs) != 0 {
		t.Fatalf("gated while arming: %v", evs)
	}
	// The gated clip sent arming back to idle: one more high clip does not start (it arms).
	if evs, _ := tr.Observe(clip(2, .9, 0, 0)); len(evs) != 0 {
		t.Fatalf("started across a gated clip: %v", evs)
	}
	// A still period as long as the cool-down clears the window: afterwards one high clip's
	// smoothed score is its own, not the mean with the stale ones.
	for k := 3; k <= 6; k++ {
		gatedAt(tr, k)
	}
	for _, sub := range tr.subjects {
		if sub.filled != 0 {
			t.Fatalf("actor %d's smoothing window still holds %d clips after a still period", sub.actor, sub.filled)
		}
	}
	// A long still period is no reset gap: 30 s of gated clips, then scored clips.
	for k := 7; k <= 40; k++ {
		gatedAt(tr, k)
	}
	if !tr.seen || tr.lastEnd != 41200*time.Millisecond {
		t.Fatalf("stream time did not advance: seen %v last end %v", tr.seen, tr.lastEnd)
	}
	if evs := tr.Gated(5*time.Second, 4*time.Second); evs != nil {
		t.Fatalf("a span ending before it starts: %v", evs)
	}
}
