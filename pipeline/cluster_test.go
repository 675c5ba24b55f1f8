package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/sink"
)

// Cameras come and go at run time (cluster mode): one added before Run starts with Run, one
// added while running starts at once, RemoveStream stops one (ending its action) while the
// other keeps going, and every event carries the generation in force when it was emitted.
func TestAddRemoveStreamsAtRunTime(t *testing.T) {
	model := testkit.TinyModel(t)
	video := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "30", Seconds: 2})
	cfg := oneShotConfig(model, video)
	cfg.Streams = nil
	out := &collect{}
	p, err := New(Options{Config: cfg, Sinks: []sink.Sink{out}})
	if err != nil {
		t.Fatal(err)
	}
	p.SetGeneration(7)
	if err := p.AddStream(ingest.StreamConfig{ID: "early", URL: video, Loop: true}); err != nil {
		t.Fatal(err)
	}
	if err := p.AddStream(ingest.StreamConfig{ID: "bad id", URL: video}); err == nil {
		t.Fatal("a stream config that fails validation was added")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	clipsOf := func(stream string, gen uint64) int {
		n := 0
		for _, e := range out.ofType(events.TypeClipScored) {
			if e.Data.Stream == stream && e.Generation == gen {
				n++
			}
		}
		return n
	}
	waitFor("clips of the stream added before Run", func() bool { return clipsOf("early", 7) >= 2 })
	if err := p.AddStream(ingest.StreamConfig{ID: "early", URL: video}); !errors.Is(err, ErrDuplicateStream) {
		t.Fatalf("a second stream with a live id: %v", err)
	}
	p.SetGeneration(8)
	if err := p.AddStream(ingest.StreamConfig{ID: "late", URL: video, Loop: true}); err != nil {
		t.Fatal(err)
	}
	waitFor("clips of the stream added while running, with the new generation", func() bool { return clipsOf("late", 8) >= 2 })
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	if err := p.RemoveStream(rctx, "early"); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveStream(rctx, "early"); !errors.Is(err, ErrNoStream) {
		t.Fatalf("removing a removed stream: %v", err)
	}
	after := clipsOf("early", 8)
	n := clipsOf("late", 8)
	waitFor("the remaining stream to go on", func() bool { return clipsOf("late", 8) >= n+2 })
	if got := clipsOf("early", 8); got != after {
		t.Errorf("the removed stream still scored clips: %d, then %d", after, got)
	}
	for _, st := range p.Streams() {
		if st.ID == "early" {
			t.Error("the removed stream is still listed")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := p.AddStream(ingest.StreamConfig{ID: "after", URL: video}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("add after shutdown: %v", err)
	}
}
