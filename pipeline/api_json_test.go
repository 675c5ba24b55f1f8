package pipeline

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
)

// TestAPIStreamJSON: /api/streams entries speak snake_case with seconds, never Go field
// names or nanoseconds (the dashboard reads active[].label and active[].score).
func TestAPIStreamJSON(t *testing.T) {
	start := time.Unix(1_700_000_000, 250_000_000)
	st := StreamStatus{ID: "cam", Status: StatusUp, FPS: 30, LastClip: start.Add(4 * time.Second),
		Active: []events.ActiveAction{{Label: "wave", StartPTS: 1500 * time.Millisecond, StartWall: start, Score: .75, Peak: .9}},
		Top:    []infer.LabelScore{{Label: "wave", Score: .75}}}
	b, err := json.Marshal(apiStream(st))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	active := got["active"].([]any)[0].(map[string]any)
	want := map[string]float64{"score": .75, "peak_score": .9, "start_pts_s": 1.5, "started_unix_s": 1_700_000_000.25}
	for k, v := range want {
		if f, _ := active[k].(float64); f < v-1e-6 || f > v+1e-6 {
			t.Errorf("active[0].%s = %v, want %v (%s)", k, active[k], v, b)
		}
	}
	if active["label"] != "wave" || active["duration_s"].(float64) <= 0 {
		t.Errorf("active[0] = %v", active)
	}
	if got["last_clip_unix_s"] != 1_700_000_004.25 || got["id"] != "cam" || got["fps"] != 30.0 {
		t.Errorf("stream fields: %s", b)
	}
	for _, bad := range []string{`"Label"`, `"Score"`, `"StartPTS"`, `"StartWall"`, `"Peak"`, `"last_clip"`, `1500000000`} {
		if strings.Contains(string(b), bad) {
			t.Errorf("%s in %s", bad, b)
		}
	}
	// No action in progress is an empty list, not null, and no clip yet sends no time.
	b, _ = json.Marshal(apiStream(StreamStatus{ID: "idle"}))
	if !strings.Contains(string(b), `"active":[]`) || strings.Contains(string(b), "last_clip") {
		t.Errorf("idle stream: %s", b)
	}
}

// TestMissedEventsCounted: a live subscriber that falls behind misses events, and
// MissedEvents (actionstream_web_events_missed_total) counts each one.
func TestMissedEventsCounted(t *testing.T) {
	p := &Pipeline{}
	ch, cancel := p.Subscribe(1)
	defer cancel()
	now := time.Now()
	p.subs.publish([]events.Event{events.StreamUp("test", "a", now, ""), events.StreamUp("test", "b", now, ""), events.StreamUp("test", "c", now, "")})
	if got := p.MissedEvents(); got != 2 {
		t.Errorf("missed %d, want 2", got)
	}
	if e := <-ch; e.Data.Stream != "a" {
		t.Errorf("the buffered event is %q, want a", e.Data.Stream)
	}
}
