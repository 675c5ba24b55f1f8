package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/infer"
)

var (
	epoch  = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	labels = []string{"wave", "clap", "idle"}
	digest = "sha256:" + strings.Repeat("ab", 32)
)

// clip k starts at k seconds and ends 1.2 s later; its wall clock is epoch + PTS.
func clip(k int, scores ...float32) infer.ScoredClip {
	start := time.Duration(k) * time.Second
	end := start + 1200*time.Millisecond
	return infer.ScoredClip{
		Stream: "cam1", Seq: uint64(k), Start: start, End: end,
		StartWall: epoch.Add(start), EndWall: epoch.Add(end),
		Labels: labels, Scores: scores, Model: "x3d-xs", ModelDigest: digest,
	}
}

// run feeds the "wave" scores (other labels 0) from clip 0 on and returns the events per clip.
func run(t *testing.T, tr *Tracker, wave []float32) [][]Event {
	t.Helper()
	out := make([][]Event, len(wave))
	for k, s := range wave {
		evs, err := tr.Observe(clip(k, s, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if err := Validate(e); err != nil {
				t.Fatalf("clip %d: produced an invalid event: %v", k, err)
			}
		}
		out[k] = evs
	}
	return out
}

func newTracker(t *testing.T, mod func(*Config)) *Tracker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Smoothing, cfg.UpdateInterval = 1, 0
	if mod != nil {
		mod(&cfg)
	}
	tr, err := NewTracker("cam1", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// types lists "k:type" for every event, for compact exact assertions.
func types(per [][]Event) []string {
	var s []string
	for k, evs := range per {
		for _, e := range evs {
			s = append(s, fmt.Sprintf("%d:%s", k, e.Type))
		}
	}
	return s
}

func TestStartAndEndTimings(t *testing.T) {
	tr := newTracker(t, nil) // On 0.6, Off 0.4, MinDuration 2s, Cooldown 2s, no smoothing
	tr.cfg.MinDuration = confkit.Duration(2 * time.Second)
	per := run(t, tr, []float32{0, 0, .9, .8, .95, .7, .2, .1, .3, 0, 0})
	// >= On from clip 2 (end 3.2 s); 2 s later is clip 4. < Off from clip 6 (end 7.2 s); 2 s later is clip 8.
	want := []string{"4:action.started", "8:action.ended"}
	if got := types(per); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	st := per[4][0]
	if st.Data.Label != "wave" || st.Data.Span.StartPTS != 2 || st.Data.Span.EndPTS != 5.2 ||
		!st.Time.Equal(epoch.Add(2*time.Second)) || st.Data.Score != .95 || st.Data.Model != "x3d-xs" || st.Data.ModelDigest != digest {
		t.Fatalf("started: %+v %+v", st, *st.Data.Span)
	}
	end := per[8][0]
	// The action lasts from the start of clip 2 to the end of clip 5, the last one >= Off.
	if end.Data.Span.StartPTS != 2 || end.Data.Span.EndPTS != 6.2 || math.Abs(end.Data.DurationSeconds-4.2) > 1e-9 ||
		end.Data.PeakScore != .95 || !end.Time.Equal(epoch.Add(6200*time.Millisecond)) {
		t.Fatalf("ended: %+v %+v", end.Data, *end.Data.Span)
	}
	if got := tr.Active(); len(got) != 0 {
		t.Fatalf("active after end: %+v", got)
	}
}

func TestMinDurationNotReached(t *testing.T) {
	tr := newTracker(t, nil) // MinDuration 1s: needs two clips 1 s apart
	per := run(t, tr, []float32{.9, .1, .9, .1, .9, .1})
	if got := types(per); len(got) != 0 {
		t.Fatalf("single clips over On started an action: %v", got)
	}
}

func TestZeroMinDurationAndCooldown(t *testing.T) {
	tr := newTracker(t, func(c *Config) { c.MinDuration, c.Cooldown = 0, 0 })
	per := run(t, tr, []float32{.7, .3, .7})
	want := []string{"0:action.started", "1:action.ended", "2:action.started"}
	if got := types(per); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if per[0][0].ID == per[2][0].ID {
		t.Fatal("two actions share an id")
	}
}

// Scores hovering between Off and On, and short dips below Off, never end an action; a naive
// single threshold would flap on the same input.
func TestHysteresisNoFlapping(t *testing.T) {
	tr := newTracker(t, nil)
	rng := rand.New(rand.NewSource(7))
	wave := []float32{.9, .9, .9}
	for i := 0; i < 200; i++ {
		s := .5 + float32(rng.Float64()*.3-.15) // 0.35..0.65, crossing both thresholds
		if s < .4 && i%2 == 0 {
			s = .45 // dips below Off last one clip (1 s) at most, shorter than the 2 s cooldown
		}
		wave = append(wave, s)
	}
	wave = append(wave, .1, .1, .1, .1)
	per := run(t, tr, wave)
	got := types(per)
	if len(got) != 2 || !strings.HasSuffix(got[0], ":action.started") || !strings.HasSuffix(got[1], ":action.ended") {
		t.Fatalf("flapping: %v", got)
	}
	naive := 0
	for i := 1; i < len(wave); i++ {
		if (wave[i] >= .6) != (wave[i-1] >= .6) {
			naive++
		}
	}
	if naive < 20 {
		t.Fatalf("test input too tame: a single threshold changes state only %d times", naive)
	}
}

func TestSmoothing(t *testing.T) {
	tr := newTracker(t, func(c *Config) { c.Smoothing, c.MinDuration = 3, 0 })
	// A lone spike averages to 0.33: nothing. Two 0.93s average to 0.62 >= On: start.
	per := run(t, tr, []float32{0, 0, 1, 0, 0, 0, .93, .93, .93, 0, 0, 0, 0, 0})
	got := types(per)
	if len(got) != 2 || got[0] != "7:action.started" {
		t.Fatalf("events %v", got)
	}
	if s := per[7][0].Data.Score; math.Abs(float64(s)-.62) > 1e-6 {
		t.Fatalf("smoothed score %v, want 0.62", s)
	}
	// Mean of last 3 falls below Off 0.4 at clip 10 (0.31); the 2 s cooldown ends it at clip 12.
	if got[1] != "12:action.ended" {
		t.Fatalf("ended at %v", got[1])
	}
}

func TestPeriodicUpdates(t *testing.T) {
	tr := newTracker(t, func(c *Config) { c.MinDuration, c.UpdateInterval = 0, confkit.Duration(3*time.Second) })
	wave := make([]float32, 11)
	for i := range wave {
		wave[i] = .8
	}
	wave = append(wave, 0, 0, 0)
	per := run(t, tr, wave)
	// Updates continue while cooling down: the action has not ended yet.
	want := []string{"0:action.started", "3:action.updated", "6:action.updated", "9:action.updated", "12:action.updated", "13:action.ended"}
	if got := types(per); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	ids := map[string]bool{}
	for _, k := range []int{0, 3, 6, 9, 12, 13} {
		ids[per[k][0].ID] = true
	}
	if len(ids) != 6 {
		t.Fatal("update ids collide")
	}
	if u := per[6][0]; u.ID != ActionID("cam1", TypeActionUpdated, "wave", 0, epoch, 2) || u.Data.DurationSeconds != 7.2 {
		t.Fatalf("second update: id %s duration %v", u.ID, u.Data.DurationSeconds)
	}
}

func TestIDsDeterministicAndUnique(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	wave := make([]float32, 600)
	for i := range wave {
		if (i/15)%2 == 0 {
			wave[i] = .5 + float32(rng.Float64()*.5)
		} else {
			wave[i] = float32(rng.Float64() * .5)
		}
	}
	cfg := func(c *Config) { c.UpdateInterval, c.ClipScored = confkit.Duration(2*time.Second), true }
	a := run(t, newTracker(t, cfg), wave)
	b := run(t, newTracker(t, cfg), wave)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same scores gave different events")
	}
	seen := map[string]string{}
	counts := map[string]int{}
	for _, evs := range a {
		for _, e := range evs {
			if len(e.ID) != 64 {
				t.Fatalf("id %q is not hex sha256", e.ID)
			}
			if prev, dup := seen[e.ID]; dup {
				t.Fatalf("id %s shared by %s and %s", e.ID, prev, e.Type)
			}
			seen[e.ID] = e.Type
			counts[e.Type]++
		}
	}
	if counts[TypeActionStarted] < 10 || counts[TypeActionStarted] != counts[TypeActionEnded] ||
		counts[TypeActionUpdated] == 0 || counts[TypeClipScored] != len(wave) {
		t.Fatalf("event counts %v", counts)
	}
	// Another stream, same scores: different ids.
	tr, _ := NewTracker("cam2", DefaultConfig())
	evs, _ := tr.Observe(clip(0, 1, 0, 0))
	evs2, _ := tr.Observe(clip(1, 1, 0, 0))
	for _, e := range append(evs, evs2...) {
		if _, dup := seen[e.ID]; dup {
			t.Fatal("id repeats across streams")
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	tr := newTracker(t, func(c *Config) { c.UpdateInterval, c.ClipScored, c.TopK = confkit.Duration(2*time.Second), true, 2 })
	per := run(t, tr, []float32{.9, .9, .9, .9, .9, 0, 0, 0, 0})
	all := []Event{StreamUp("", "cam1", epoch, "connected")}
	for _, evs := range per {
		all = append(all, evs...)
	}
	all = append(all, StreamDown("", "cam1", epoch.Add(time.Minute), "read: connection reset"))
	for _, e := range all {
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseJSON(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, back)
		}
		var top map[string]any
		_ = json.Unmarshal(raw, &top)
		if top["specversion"] != "1.0" || top["datacontenttype"] != "application/json" || top["source"] != "actionstream/cam1" || top["subject"] != "cam1" {
			t.Fatalf("attributes: %s", raw)
		}
	}
	cs := per[0][0]
	if cs.Type != TypeClipScored || len(cs.Data.TopK) != 2 || cs.Data.TopK[0] != (LabelScore{Label: "wave", Score: .9}) || cs.Data.Label != "wave" {
		t.Fatalf("clip.scored: %+v", cs.Data)
	}
	if _, err := ParseJSON([]byte(`{"specversion":"1.0","id":"ab","source":"s","type":"stream.up","time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{"stream":"x"},"extra":1}`)); err == nil {
		t.Fatal("unknown attribute accepted")
	}
	if _, err := ParseJSON([]byte(`{"specversion":"1.0","id":"ab","type":"stream.up","time":"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{"stream":"x"}}`)); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("missing source: %v", err)
	}
}

func TestFlushAndReset(t *testing.T) {
	tr := newTracker(t, func(c *Config) { c.MinDuration = 0 })
	run(t, tr, []float32{.9, .9})
	if a := tr.Active(); len(a) != 1 || a[0].Label != "wave" || a[0].Peak != .9 {
		t.Fatalf("active %+v", a)
	}
	evs := tr.Flush()
	if len(evs) != 1 || evs[0].Type != TypeActionEnded || evs[0].Data.Span.EndPTS != 2.2 {
		t.Fatalf("flush: %+v", evs)
	}
	if len(tr.Flush()) != 0 {
		t.Fatal("second flush ended again")
	}
	// PTS going backwards (a reconnect) ends the action and restarts smoothing.
	run(t, tr, []float32{0, 0, 0, .9, .9, .9})
	evs, err := tr.Observe(clip(0, 0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != TypeActionEnded || evs[0].Data.Span.EndPTS != 6.2 {
		t.Fatalf("backwards PTS: %+v", evs)
	}
	// So does a jump beyond ResetGap.
	run(t, tr, []float32{.9})
	evs, _ = tr.Observe(clip(60, 0, 0, 0))
	if len(evs) != 1 || evs[0].Type != TypeActionEnded {
		t.Fatalf("gap: %+v", evs)
	}
}

func TestIgnoreAndMultipleLabels(t *testing.T) {
	tr := newTracker(t, func(c *Config) { c.MinDuration, c.Ignore = 0, []string{"idle"} })
	evs, _ := tr.Observe(clip(0, .7, .8, .9))
	if len(evs) != 2 || evs[0].Data.Label != "wave" || evs[1].Data.Label != "clap" {
		t.Fatalf("%+v", evs)
	}
}

func TestBadResult(t *testing.T) {
	tr := newTracker(t, nil)
	r := clip(0, .5)
	if _, err := tr.Observe(r); !errors.Is(err, ErrBadResult) {
		t.Fatalf("mismatched scores: %v", err)
	}
	r = clip(0, .5, .5, .5)
	r.Stream = "cam9"
	if _, err := tr.Observe(r); !errors.Is(err, ErrBadResult) {
		t.Fatalf("other stream: %v", err)
	}
	r = clip(0, .5, .5, .5)
	r.End = -1
	if _, err := tr.Observe(r); !errors.Is(err, ErrBadResult) {
		t.Fatalf("reversed span: %v", err)
	}
	// NaN and out-of-range scores are clamped, never poison the average or the events.
	tr = newTracker(t, func(c *Config) { c.MinDuration, c.Smoothing = 0, 2 })
	per := run(t, tr, []float32{float32(math.NaN()), 1.5, 1.5})
	if got := types(per); len(got) != 1 || got[0] != "2:action.started" || per[2][0].Data.Score != 1 {
		t.Fatalf("%v", got)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		mod   func(*Config)
		field string
	}{
		{func(c *Config) { c.Smoothing = -1 }, "smoothing"},
		{func(c *Config) { c.On = 0 }, "on"},
		{func(c *Config) { c.On = 1.1 }, "on"},
		{func(c *Config) { c.Off = .6 }, "off"},
		{func(c *Config) { c.Off = -.1 }, "off"},
		{func(c *Config) { c.MinDuration = -1 }, "min_duration"},
		{func(c *Config) { c.Cooldown = -1 }, "cooldown"},
		{func(c *Config) { c.UpdateInterval = -1 }, "update_interval"},
		{func(c *Config) { c.TopK = -1 }, "top_k"},
		{func(c *Config) { c.ResetGap = -1 }, "reset_gap"},
		{func(c *Config) { c.Ignore = []string{""} }, "ignore"},
	} {
		cfg := DefaultConfig()
		tc.mod(&cfg)
		_, err := NewTracker("cam", cfg)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Fatalf("error %v does not name %s", err, tc.field)
		}
	}
	if _, err := NewTracker("", DefaultConfig()); !errors.Is(err, ErrInvalidConfig) {
		t.Fatal("empty stream accepted")
	}
	if err := (Config{On: .6, Off: .4}).WithDefaults().Validate(); err != nil {
		t.Fatalf("zero config with thresholds: %v", err)
	}
}

func TestStreamEvents(t *testing.T) {
	up := StreamUp("", "cam1", epoch, "connected")
	up2 := StreamUp("", "cam1", epoch, "connected")
	down := StreamDown("site-a", "cam1", epoch, "connected")
	if up.ID != up2.ID || up.ID == down.ID || down.Source != "site-a/cam1" || up.Type != TypeStreamUp || down.Type != TypeStreamDown {
		t.Fatalf("%+v %+v", up, down)
	}
	for _, e := range []Event{up, down} {
		if err := Validate(e); err != nil {
			t.Fatal(err)
		}
	}
}

// Each mutation breaks one rule of the contract and must be caught.
func TestValidateRejects(t *testing.T) {
	tr := newTracker(t, func(c *Config) { c.MinDuration, c.ClipScored = 0, true })
	evs, _ := tr.Observe(clip(0, .9, .1, 0))
	scored, started := evs[0], evs[1]
	ended := tr.Flush()[0]
	for name, tc := range map[string]struct {
		base Event
		mod  func(*Event)
	}{
		"specversion":  {started, func(e *Event) { e.SpecVersion = "0.3" }},
		"empty id":     {started, func(e *Event) { e.ID = "" }},
		"upper id":     {started, func(e *Event) { e.ID = "ABC" }},
		"source":       {started, func(e *Event) { e.Source = "" }},
		"time":         {started, func(e *Event) { e.Time = time.Time{} }},
		"content type": {started, func(e *Event) { e.DataContentType = "text/plain" }},
		"stream":       {started, func(e *Event) { e.Data.Stream = "" }},
		"subject":      {started, func(e *Event) { e.Subject = "other" }},
		"digest":       {started, func(e *Event) { e.Data.ModelDigest = "md5:00" }},
		"score":        {started, func(e *Event) { e.Data.Score = 1.5 }},
		"nan score":    {started, func(e *Event) { e.Data.Score = float32(math.NaN()) }},
		"label":        {started, func(e *Event) { e.Data.Label = "" }},
		"span":         {started, func(e *Event) { e.Data.Span = nil }},
		"span order":   {started, func(e *Event) { s := *e.Data.Span; s.EndPTS = -1; e.Data.Span = &s }},
		"model":        {started, func(e *Event) { e.Data.Model = "" }},
		"peak < score": {started, func(e *Event) { e.Data.PeakScore = .1 }},
		"type":         {started, func(e *Event) { e.Type = "action.paused" }},
		"no peak":      {ended, func(e *Event) { e.Data.PeakScore = 0 }},
		"duration":     {ended, func(e *Event) { e.Data.DurationSeconds = -1 }},
		"top_k empty":  {scored, func(e *Event) { e.Data.TopK = nil }},
		"top_k order":  {scored, func(e *Event) { e.Data.TopK = []LabelScore{{Label: "a", Score: .1}, {Label: "b", Score: .2}} }},
		"top_k label":  {scored, func(e *Event) { e.Data.Label = "clap" }},
		"stream label": {StreamUp("", "c", epoch, ""), func(e *Event) { e.Data.Label = "wave" }},
	} {
		if err := Validate(tc.base); err != nil {
			t.Fatalf("%s: base invalid: %v", name, err)
		}
		e := tc.base
		tc.mod(&e)
		if err := Validate(e); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: not rejected (%v)", name, err)
		}
	}
}

// clip.scored's top-k follows inference's one score rule: NaN counts as 0 and ranks with the
// zeros, above 1 counts as 1, so the event is valid and encodes as JSON.
func TestClipScoredTopKScoreRule(t *testing.T) {
	tr := newTracker(t, func(c *Config) { c.ClipScored, c.TopK = true, 3 })
	evs, err := tr.Observe(clip(0, float32(math.NaN()), .5, 1.5))
	if err != nil {
		t.Fatal(err)
	}
	top := evs[0].Data.TopK
	want := []LabelScore{{Label: "idle", Score: 1}, {Label: "clap", Score: .5}, {Label: "wave", Score: 0}}
	if evs[0].Type != TypeClipScored || !slices.Equal(top, want) {
		t.Fatalf("top-k %v, want %v", top, want)
	}
	if err := Validate(evs[0]); err != nil {
		t.Fatalf("clip.scored with a NaN score: %v", err)
	}
	if _, err := json.Marshal(evs[0]); err != nil {
		t.Fatalf("encode: %v", err)
	}
}
