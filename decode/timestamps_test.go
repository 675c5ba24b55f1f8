package decode

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/media"
)

// bframeFile writes 4 s of 25 fps H.264 with a B-pyramid into an MP4.
func bframeFile(t *testing.T, name string, extra ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	testkit.FFmpeg(t, append(append([]string{"-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=4"}, x264Pyr...),
		append(extra, path)...)...)
	return path
}

// decodeRewritten decodes path with every packet passed through rewrite first, into a clipper
// with a 4×3 grid, and returns the decoder's and clipper's counters, the frame times the
// sampler saw and the log.
func decodeRewritten(t *testing.T, path string, rewrite func(*ingest.Packet)) (Stats, clipper.Stats, []time.Duration, string) {
	t.Helper()
	var logs bytes.Buffer
	cl, err := clipper.New("ts", clipper.Config{Frames: 4, SamplingRate: 3, Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	rec := &timesSampler{Sampler: cl}
	d, err := New(Config{Stream: "ts", Size: 32, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = demux.Run(context.Background(), media.DemuxConfig{URL: path}, func(p ingest.Packet) error {
		rewrite(&p)
		return d.Decode(p)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	return d.Stats(), cl.Stats(), rec.times, logs.String()
}

// timesSampler records the time of every frame offered to the wrapped Sampler.
type timesSampler struct {
	Sampler
	times []time.Duration
}

func (s *timesSampler) Want(pts time.Duration) bool {
	s.times = append(s.times, pts)
	return s.Sampler.Want(pts)
}

// A source that gives one timestamp per packet in decode order (what the decoder was fed before:
// pts = dts, no dts) makes FFmpeg's times go backwards at every B-frame group. The repair counts
// each step, times the frames by the frame rate from the first one, logs once, and the clipper
// sees no backward step.
func TestRepairBackwardTimes(t *testing.T) {
	path := bframeFile(t, "pyramid.mp4")
	ds, cs, times, logs := decodeRewritten(t, path, func(p *ingest.Packet) {
		p.PTS, p.NoPTS, p.HasDTS = p.DTS, false, false
	})
	if ds.BackwardSteps == 0 || ds.Repairs == 0 {
		t.Fatalf("no backward step seen or repaired: %+v", ds)
	}
	if cs.Discontinuities != 0 || cs.ClipsDroppedBackward != 0 {
		t.Fatalf("clipper still sees backward steps: %+v", cs)
	}
	for i := 1; i < len(times); i++ {
		if times[i] <= times[i-1] {
			t.Fatalf("frame %d at %v after %v", i, times[i], times[i-1])
		}
	}
	if n := strings.Count(logs, "timestamps go backwards"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs)
	}
	want, err := clipper.Expect(probeFrameTimes(t, path), clipper.Config{Frames: 4, SamplingRate: 3, Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	if d := int(cs.Clips) - len(want.Clips); d < -1 || d > 1 {
		t.Fatalf("%d clips, want %d", cs.Clips, len(want.Clips))
	}
}

// With both timestamps FFmpeg reorders them itself: nothing to repair.
func TestBothTimestampsNeedNoRepair(t *testing.T) {
	ds, cs, times, logs := decodeRewritten(t, bframeFile(t, "pyramid.mp4"), func(*ingest.Packet) {})
	// The last frames a drained decoder holds have no packet dts; the pyramid's last group can
	// be timed by the frame rate, nothing else.
	if ds.BackwardSteps != 0 || ds.Repairs > 3 || cs.Discontinuities != 0 {
		t.Fatalf("decoder %+v, clipper %+v\n%s", ds, cs, logs)
	}
	for i, ts := range times[:len(times)-int(ds.Repairs)] {
		if want := time.Duration(i) * 40 * time.Millisecond; ts != want {
			t.Fatalf("frame %d at %v, want %v", i, ts, want)
		}
	}
}

// A stream with no timestamps at all (a raw elementary stream over a source that knows none)
// is timed by its frame rate: frame i at i × 40 ms.
func TestNoTimestampsUseFrameRate(t *testing.T) {
	ds, cs, times, _ := decodeRewritten(t, bframeFile(t, "pyramid.mp4"), func(p *ingest.Packet) {
		p.NoPTS, p.HasDTS, p.PTS, p.DTS = true, false, 0, 0
	})
	if len(times) != 100 || ds.Repairs != 100 || ds.BackwardSteps != 0 || cs.Discontinuities != 0 {
		t.Fatalf("%d frames, decoder %+v, clipper %+v", len(times), ds, cs)
	}
	for i, ts := range times {
		if want := time.Duration(i) * 40 * time.Millisecond; ts != want {
			t.Fatalf("frame %d at %v, want %v", i, ts, want)
		}
	}
}

// MPEG-TS timestamps are 33 bits of 90 kHz and wrap after 95443.7 s; a stream that starts 2 s
// before the wrap must run straight through it.
func TestMPEGTSWrapAround(t *testing.T) {
	path := bframeFile(t, "wrap.ts", "-output_ts_offset", "95441.7")
	// Read without FFmpeg's wrap correction, the stream starts less than 4 s (its length) before
	// the wrap point.
	out := strings.Fields(ffprobe(t, "-correct_ts_overflow", "0", "-select_streams", "v:0",
		"-show_entries", "stream=start_time", "-of", "csv=p=0", path))
	start, err := strconv.ParseFloat(strings.Join(out[:min(1, len(out))], ""), 64)
	if wrap := float64(int64(1)<<33) / 90000; err != nil || start > wrap || start < wrap-4 {
		t.Fatalf("fixture starts at %v (%v), not just before the wrap at %.1f", out, err, wrap)
	}
	ds, cs, times, _ := decodeRewritten(t, path, func(*ingest.Packet) {})
	if len(times) != 100 || ds.BackwardSteps != 0 || cs.Discontinuities != 0 || cs.Gaps != 0 {
		t.Fatalf("%d frames, decoder %+v, clipper %+v", len(times), ds, cs)
	}
	for i := 1; i < len(times); i++ {
		if step := times[i] - times[i-1]; step < 39*time.Millisecond || step > 41*time.Millisecond {
			t.Fatalf("frame %d: step %v at %v", i, step, times[i])
		}
	}
}
