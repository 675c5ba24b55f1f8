package pipeline

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/file"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/sink"
)

// collect is a sink that keeps every event.
type collect struct {
	mu  sync.Mutex
	evs []events.Event
}

func (c *collect) Write(_ context.Context, b []events.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, b...)
	return nil
}
func (c *collect) Close(context.Context) error { return nil }

func (c *collect) all() []events.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]events.Event(nil), c.evs...)
}

func (c *collect) ofType(typ string) []events.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []events.Event
	for _, e := range c.evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func oneShotConfig(model, input string) configs.Config {
	cfg := configs.Default()
	cfg.Model.Path = model
	cfg.Model.Runtime.Threads = 1
	cfg.Streams = []configs.Stream{{ID: "cam", URL: input}}
	cfg.Events.ClipScored = true
	cfg.HTTP.Addr = ""
	cfg.ShutdownTimeout = configs.Duration(time.Minute)
	return cfg
}

// TestClipSpansMatchTimestampArithmetic runs whole files through the pipeline at several frame
// rates, codecs and a variable frame rate, and checks every clip.scored span against the
// sampling rule applied to the frame times ffprobe reports.
func TestClipSpansMatchTimestampArithmetic(t *testing.T) {
	model := testkit.TinyModel(t)
	dir := t.TempDir()
	cases := []testkit.Video{
		{FPS: "10", Seconds: 4},
		{FPS: "25", Seconds: 3},
		{FPS: "30", Seconds: 3},
		{FPS: "60", Seconds: 2},
		{FPS: "30", Seconds: 3, Codec: "mpeg4"},
		// Variable frame rate: 30 fps for a second, then every third frame only.
		{FPS: "30", Seconds: 4, Filter: `select='lt(n\,30)+not(mod(n\,3))'`, ExtraOut: []string{"-fps_mode", "vfr"}, Size: "80x64"},
	}
	for _, v := range cases {
		path := testkit.MakeVideo(t, dir, v)
		t.Run(v.FPS+"fps_"+v.Codec+"_"+v.Size, func(t *testing.T) {
			pts := testkit.FramePTS(t, path)
			out := &collect{}
			p, err := New(Options{Config: oneShotConfig(model, path), OneShot: true, Sinks: []sink.Sink{out}})
			if err != nil {
				t.Fatal(err)
			}
			meta := p.Model().Meta
			want, err := clipper.Expect(pts, clipper.Config{Frames: meta.Frames, SamplingRate: meta.SamplingRate, Size: meta.CropSize})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			got := out.ofType(events.TypeClipScored)
			if len(got) != len(want.Clips) || len(got) == 0 {
				t.Fatalf("%d frames: got %d clips, the arithmetic says %d", len(pts), len(got), len(want.Clips))
			}
			for i, e := range got {
				if err := events.Validate(e); err != nil {
					t.Fatalf("clip %d: %v", i, err)
				}
				w := want.Clips[i]
				if math.Abs(e.Data.Span.StartPTS-w.Start.Seconds()) > 1e-3 || math.Abs(e.Data.Span.EndPTS-w.End.Seconds()) > 1e-3 {
					t.Errorf("clip %d span [%.4f, %.4f], want [%.4f, %.4f]", i, e.Data.Span.StartPTS, e.Data.Span.EndPTS, w.Start.Seconds(), w.End.Seconds())
				}
				if len(e.Data.TopK) == 0 || e.Data.Model != "tiny" || e.Data.ModelDigest == "" {
					t.Errorf("clip %d: incomplete data %+v", i, e.Data)
				}
			}
			if ups := out.ofType(events.TypeStreamUp); len(ups) != 1 {
				t.Errorf("want one stream.up, got %d", len(ups))
			}
		})
	}
}

func TestOneShotUnreadableInputFails(t *testing.T) {
	model := testkit.TinyModel(t)
	p, err := New(Options{Config: oneShotConfig(model, t.TempDir()+"/missing.mp4"), OneShot: true, Sinks: []sink.Sink{&collect{}}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(context.Background())
	if !errors.Is(err, ErrStreamFailed) {
		t.Fatalf("want ErrStreamFailed, got %v", err)
	}
}

// TestAttachLiveStream adds a stream while serving (as a WHIP publisher does): it is scored,
// a second stream with the same id is refused while it is live, and the id is free again once
// the source ends. Live subscribers see the events.
func TestAttachLiveStream(t *testing.T) {
	model := testkit.TinyModel(t)
	video := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "30", Seconds: 2})
	cfg := oneShotConfig(model, video)
	cfg.Streams = nil
	out := &collect{}
	p, err := New(Options{Config: cfg, Sinks: []sink.Sink{out}})
	if err != nil {
		t.Fatal(err)
	}
	fileSrc := func() ingest.Source {
		s, err := file.New(file.Config{Stream: "pub", URL: video, Paced: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := p.Attach("pub", "whip", fileSrc()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("attach before Run: %v", err)
	}
	live, unsubscribe := p.Subscribe(1000)
	defer unsubscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !p.Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Attach("pub", "whip", fileSrc()); err != nil {
		t.Fatal(err)
	}
	ended := p.StreamEnded("pub")
	if err := p.Attach("pub", "whip", fileSrc()); !errors.Is(err, ErrDuplicateStream) {
		t.Fatalf("second publisher for a live id: %v", err)
	}
	select {
	case <-ended:
	case <-time.After(time.Until(deadline)):
		t.Fatal("attached stream did not end")
	}
	// Removal waited for every clip the stream submitted: each that was not replaced has had its
	// clip.scored published by the time the stream is gone.
	published := 0
	for len(live) > 0 {
		if e := <-live; e.Type == events.TypeClipScored {
			published++
		}
	}
	if st := p.batcher.Stats(); published == 0 || uint64(published) != st.Submitted-st.Dropped-st.Failed {
		t.Fatalf("%d clip.scored published when the stream ended; batcher: %d submitted, %d replaced, %d failed",
			published, st.Submitted, st.Dropped, st.Failed)
	}
	if n := len(p.Streams()); n != 0 {
		t.Fatalf("ended stream not removed: %d streams", n)
	}
	if err := p.Attach("pub", "whip", fileSrc()); err != nil {
		t.Fatalf("id not free after the stream ended: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(out.ofType(events.TypeClipScored)); n < 3 {
		t.Fatalf("only %d clips scored", n)
	}
	if published == 0 {
		t.Fatal("the live subscriber saw no clip.scored")
	}
}
