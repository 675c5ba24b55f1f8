package pipeline

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/rtspcam"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
	"github.com/actionstream/actionstream/sink"
)

// TestRTSPCameraRestartAndStall serves a live RTSP camera: clips are scored; the camera's server
// dies mid-stream and comes back, and the stream goes down, reconnects and its clip.scored
// events resume; then the camera stalls (session up, no packets) and that is noticed within the
// stall timeout (2 s: a shorter one fires falsely on a loaded 2-core machine).
func TestRTSPCameraRestartAndStall(t *testing.T) {
	model := testkit.TinyModel(t)
	aus, sps, pps := rtspcam.H264AccessUnits(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t)))
	cam := rtspcam.Start(t, addr, 0, aus, sps, pps)
	defer func() { cam.Close() }()

	cfg := configs.Default()
	cfg.Model.Path = model
	cfg.Model.Runtime.Threads = 1
	cfg.HTTP.Addr = ""
	cfg.Events.ClipScored = true
	cfg.Supervisor.Initial = configs.Duration(100 * time.Millisecond)
	cfg.Supervisor.Max = configs.Duration(400 * time.Millisecond)
	cfg.Streams = []configs.Stream{{ID: "dock", URL: "rtsp://viewer:secret@" + addr + "/cam", StallTimeout: configs.Duration(2 * time.Second)}}
	out := &collect{}
	p, err := New(Options{Config: cfg, Sinks: []sink.Sink{out}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	count := func(typ string) int { return len(out.ofType(typ)) }
	wait := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; streams %+v", what, p.Streams())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("clips from the camera", 20*time.Second, func() bool { return count(events.TypeClipScored) >= 3 })

	cam.Close()
	wait("stream.down after the server died", 10*time.Second, func() bool { return count(events.TypeStreamDown) >= 1 })
	before := count(events.TypeClipScored)
	time.Sleep(300 * time.Millisecond)
	cam = rtspcam.Start(t, addr, 0, aus, sps, pps)
	wait("stream.up after the restart", 15*time.Second, func() bool { return count(events.TypeStreamUp) >= 2 })
	wait("clip.scored events resume", 20*time.Second, func() bool { return count(events.TypeClipScored) >= before+3 })
	if st := p.Streams()[0]; st.Status != StatusUp || st.Restarts < 1 || st.URL != "rtsp://viewer:xxxxx@"+addr+"/cam" {
		t.Errorf("stream status after recovery: %+v", st)
	}
	// The new connection's clock starts again: a new timeline, not backward frame times.
	if st := p.Streams()[0]; st.PTSBackwardSteps != 0 || st.BackwardSteps != 0 {
		t.Errorf("backward steps after the reconnect: decoder %d, clipper %d", st.PTSBackwardSteps, st.BackwardSteps)
	}

	downs := count(events.TypeStreamDown)
	stalled := time.Now()
	cam.Paused.Store(true)
	wait("stall noticed", 8*time.Second, func() bool { return count(events.TypeStreamDown) > downs })
	if d := time.Since(stalled); d > 5*time.Second {
		t.Errorf("stall noticed after %v with a 2s timeout", d)
	}
	for _, e := range out.ofType(events.TypeStreamDown) {
		if err := events.Validate(e); err != nil || e.Data.Reason == "" {
			t.Errorf("stream.down %+v: %v", e.Data, err)
		}
	}
	cam.Paused.Store(false)
	wait("up again after the stall", 15*time.Second, func() bool { return count(events.TypeStreamUp) >= 3 })
}
