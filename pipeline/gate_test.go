package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper/motion"
	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/sink"
)

// stillScene encodes a still camera: one testsrc2 picture held for seconds with temporal
// sensor noise (ffmpeg's noise filter, ±20 levels, new every frame) and, when box, a white
// 24×16 square sliding back and forth in the top band (x 120..200, y 4..20 of 320×240).
func stillScene(t *testing.T, dir string, seconds int, box bool) string {
	t.Helper()
	out := filepath.Join(dir, fmt.Sprintf("still_%d_%v.mp4", seconds, box))
	bg := "[0]trim=end_frame=1,loop=loop=-1:size=1:start=0,setpts=N/30/TB"
	args := []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"}
	if box {
		args = append(args, "-f", "lavfi", "-i", "color=c=white:size=24x16:rate=30",
			"-filter_complex", bg+"[bg];[bg][1]overlay=x='120+mod(t*60\\,56)':y=4,noise=alls=20:allf=t+u")
	} else {
		args = append(args, "-filter_complex", bg+",noise=alls=20:allf=t+u")
	}
	args = append(args, "-t", fmt.Sprint(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30", out)
	testkit.FFmpeg(t, args...)
	return out
}

type gateRun struct {
	status  StreamStatus
	batches uint64 // ONNX Runtime calls
	out     *collect
	metrics string
}

// runGated scores input once (one-shot) with the motion section m and returns what it did.
func runGated(t *testing.T, model, input string, m motion.Config) gateRun {
	t.Helper()
	cfg := oneShotConfig(model, input)
	cfg.StateDir = t.TempDir()
	cfg.Motion = m
	out := &collect{}
	p, err := New(Options{Config: cfg, OneShot: true, Sinks: []sink.Sink{out}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := p.Streams()
	if len(st) != 1 {
		t.Fatalf("%d streams", len(st))
	}
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return gateRun{status: st[0], batches: p.batcher.Stats().Batches, out: out, metrics: string(body)}
}

func gatingOn(mod func(*motion.Config)) motion.Config {
	m := motion.DefaultConfig()
	m.Enabled = true
	if mod != nil {
		mod(&m)
	}
	return m
}

// A still camera with sensor noise: gating scores at least 5× fewer clips (and makes at least
// 5× fewer ONNX Runtime calls) than scoring every clip; /metrics and /api/streams say so.
func TestStillSceneSkipsInference(t *testing.T) {
	model := testkit.TinyModel(t)
	video := stillScene(t, t.TempDir(), 12, false)
	off := runGated(t, model, video, motion.DefaultConfig())
	on := runGated(t, model, video, gatingOn(nil))

	if off.status.Clips != on.status.Clips || off.status.Clips < 20 {
		t.Fatalf("clips assembled: off %d, on %d (want the same, >= 20)", off.status.Clips, on.status.Clips)
	}
	if off.status.ClipsScored != off.status.Clips || off.status.ClipsGated != 0 {
		t.Errorf("gating off: %d of %d clips scored, %d gated", off.status.ClipsScored, off.status.Clips, off.status.ClipsGated)
	}
	if on.status.ClipsScored == 0 || on.status.ClipsScored*5 > off.status.ClipsScored || on.batches*5 > off.batches {
		t.Fatalf("gating on a still scene: %d clips scored in %d model calls, off %d in %d: want >= 5x fewer (and the first clip scored)",
			on.status.ClipsScored, on.batches, off.status.ClipsScored, off.batches)
	}
	if on.status.ClipsGated+on.status.ClipsScored != on.status.Clips || on.status.ClipsDroppedByReason["gated"] != on.status.ClipsGated {
		t.Errorf("gated %d + scored %d != clips %d; by reason %v", on.status.ClipsGated, on.status.ClipsScored, on.status.Clips, on.status.ClipsDroppedByReason)
	}
	if n := len(on.out.ofType(events.TypeClipScored)); uint64(n) != on.status.ClipsScored {
		t.Errorf("%d clip.scored events for %d scored clips", n, on.status.ClipsScored)
	}
	t.Logf("still scene, %d clips: off %d scored / %d model calls, on %d scored / %d calls, motion %v",
		on.status.Clips, off.status.ClipsScored, off.batches, on.status.ClipsScored, on.batches, *on.status.Motion)

	want := fmt.Sprintf(`actionstream_clips_dropped_total{reason="gated",stream="cam"} %d`, on.status.ClipsGated)
	if !strings.Contains(on.metrics, want+"\n") || !strings.Contains(off.metrics, `actionstream_clips_dropped_total{reason="gated",stream="cam"} 0`) {
		t.Errorf("/metrics lacks %q", want)
	}
	if !strings.Contains(on.metrics, `actionstream_stream_motion{stream="cam"} 0`) {
		t.Errorf("/metrics lacks the stream's motion level 0")
	}
	b, _ := json.Marshal(apiStream(on.status))
	for _, f := range []string{`"motion_gating":true`, `"motion":0`, fmt.Sprintf(`"clips_gated":%d`, on.status.ClipsGated), fmt.Sprintf(`"gated":%d`, on.status.ClipsGated)} {
		if !strings.Contains(string(b), f) {
			t.Errorf("/api/streams entry lacks %s: %s", f, b)
		}
	}
}

// A box moving inside a masked zone (a burnt-in clock, say) never ungates the scene; the same
// box unmasked is motion, and those clips are scored.
func TestMotionInAMaskedZoneStaysGated(t *testing.T) {
	model := testkit.TinyModel(t)
	video := stillScene(t, t.TempDir(), 8, true)
	unmasked := runGated(t, model, video, gatingOn(nil))
	masked := runGated(t, model, video, gatingOn(func(m *motion.Config) {
		m.Streams = map[string]motion.Override{"cam": {Masks: []motion.Rect{{X: 0.35, Y: 0, W: 0.32, H: 0.12}}}}
	}))
	if unmasked.status.ClipsScored*2 < unmasked.status.Clips {
		t.Errorf("the unmasked moving box: only %d of %d clips scored", unmasked.status.ClipsScored, unmasked.status.Clips)
	}
	if masked.status.ClipsScored != 1 || masked.status.ClipsGated != masked.status.Clips-1 {
		t.Errorf("the box inside the mask: %d of %d clips scored, %d gated; want only the first scored",
			masked.status.ClipsScored, masked.status.Clips, masked.status.ClipsGated)
	}
}

// action is what a consumer keeps of an action event; ids and wall times differ run to run
// for a file (its wall clock is the decoding time).
type action struct {
	Type, Label      string
	StartPTS, EndPTS float64
}

func actions(c *collect) []action {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []action
	for _, e := range c.evs {
		if strings.HasPrefix(e.Type, "action.") {
			out = append(out, action{e.Type, e.Data.Label, e.Data.Span.StartPTS, e.Data.Span.EndPTS})
		}
	}
	return out
}

// The bundled demo model on its sample loses no action event to gating: the same events,
// same labels, same spans, as scoring every clip. With 4 s of still, noisy picture before and
// after it, gating skips those clips and the motion classes' events stay the same; what goes
// is the model's "static" label on the still stretch, which is what gating is for.
func TestDemoSampleLosesNoActionToGating(t *testing.T) {
	model, sample := filepath.Join("..", "models", "demo.onnx"), filepath.Join("..", "models", "demo-sample.mp4")
	padded := filepath.Join(t.TempDir(), "padded.mp4")
	testkit.FFmpeg(t, "-i", sample, "-vf", "tpad=start_duration=4:start_mode=clone:stop_duration=4:stop_mode=clone,noise=alls=6:allf=t+u",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", padded)
	for _, c := range []struct {
		name, video string
		minGated    uint64
	}{{"as shipped", sample, 0}, {"with still stretches", padded, 4}} {
		t.Run(c.name, func(t *testing.T) {
			off := runGated(t, model, c.video, motion.DefaultConfig())
			on := runGated(t, model, c.video, gatingOn(nil))
			a, b := withoutLabel(actions(off.out), "static"), actions(on.out)
			if len(a) < 6 {
				t.Fatalf("gating off: only %d action events", len(a))
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("action events differ with gating:\noff %v\non  %v", a, b)
			}
			if on.status.ClipsGated < c.minGated {
				t.Errorf("%d clips gated, want >= %d", on.status.ClipsGated, c.minGated)
			}
			t.Logf("%d clips, %d gated, %d action events either way (%d static ones without gating)",
				on.status.Clips, on.status.ClipsGated, len(a), len(actions(off.out))-len(a))
		})
	}
}

func withoutLabel(as []action, label string) []action {
	var out []action
	for _, a := range as {
		if a.Label != label {
			out = append(out, a)
		}
	}
	return out
}

// Gated clips reach the lifecycle in clip order, also while earlier clips are still being
// scored: a result that comes back after the gated clips that follow it applies them after
// itself, so an action started by scored clips ends after the cool-down of gated ones.
func TestGatedClipsFollowPendingResults(t *testing.T) {
	tr, err := events.NewTracker("cam", events.Config{Smoothing: 1, On: 0.6, Off: 0.4, Cooldown: configs.Duration(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{out: &collect{}, log: slog.New(slog.DiscardHandler), emitCtx: context.Background()}
	p.metrics = newMetrics(p)
	s := &stream{id: "cam", tracker: tr, gate: newGate(motion.Settings{}, motion.Geometry{Size: 4})}
	res := func(seq int, score float32) infer.Result {
		start := time.Duration(seq) * time.Second
		return infer.Result{ScoredClip: infer.ScoredClip{Stream: "cam", Seq: uint64(seq), Start: start, End: start + time.Second,
			Labels: []string{"wave", "idle"}, Scores: []float32{score, 1 - score}}}
	}
	gated := func(seq int) {
		start := time.Duration(seq) * time.Second
		s.trackerMu.Lock()
		s.gate.pending = append(s.gate.pending, gatedSpan{uint64(seq), start, start + time.Second})
		s.trackerMu.Unlock()
	}
	// Clips 0 and 1 scored at once; clip 2 submitted; 3..6 gated while 2 is in flight.
	for i := range 3 {
		s.noteSubmitted(uint64(i))
	}
	p.lifecycle(s, res(0, .9))
	p.lifecycle(s, res(1, .9))
	for k := 3; k <= 6; k++ {
		gated(k)
	}
	if len(s.active) != 1 {
		t.Fatalf("active before clip 2's result: %v", s.active)
	}
	p.lifecycle(s, res(2, .9)) // applies 3..6 after itself: cooling from 4 s, ended at 6 s
	got := actions(p.out.(*collect))
	want := []action{{events.TypeActionStarted, "wave", 0, 1}, {events.TypeActionEnded, "wave", 0, 3}}
	if !reflect.DeepEqual(got, want) || len(s.gate.pending) != 0 || len(s.active) != 0 {
		t.Fatalf("events %v (pending %d, active %v), want %v", got, len(s.gate.pending), s.active, want)
	}
}
