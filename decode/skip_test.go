package decode

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/media"
)

// skipClip is what a test keeps of a clip.
type skipClip struct {
	Start, End time.Duration
	Tensor     []float32
}

type skipRun struct {
	clips  []skipClip
	dec    Stats
	clp    clipper.Stats
	frames []time.Duration // every time the clipper was offered, in order
}

func decodeClips(t *testing.T, path string, ccfg clipper.Config, threads int, skip bool) skipRun {
	t.Helper()
	cl, err := clipper.New("s", ccfg)
	if err != nil {
		t.Fatal(err)
	}
	var r skipRun
	r.dec = decodeThrough(t, path, Config{Size: ccfg.Size, Stream: "s", Threads: threads}, recorderFor(cl, &r.frames, skip), func(c *clipper.Clip) {
		r.clips = append(r.clips, skipClip{c.Start, c.End, slices.Clone(c.Tensor)})
		c.Release()
	})
	r.clp = cl.Stats()
	return r
}

// recorderFor records the times offered to cl in pts; skip keeps cl's Skippable.
func recorderFor(cl *clipper.Clipper, pts *[]time.Duration, skip bool) Sampler {
	if skip {
		return &skippingRecorder{ptsRecorder{Sampler: cl, pts: pts}, cl}
	}
	return &ptsRecorder{Sampler: cl, pts: pts}
}

// decodeThrough decodes path to its end through a new Decoder and returns its counters.
func decodeThrough(t *testing.T, path string, cfg Config, s Sampler, out func(*clipper.Clip)) Stats {
	t.Helper()
	d, err := New(cfg, s, out)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := demux.Run(context.Background(), media.DemuxConfig{URL: path}, d.Decode); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	return d.Stats()
}

// skippingRecorder records the offered times and keeps the clipper's Skippable.
type skippingRecorder struct {
	ptsRecorder
	cl *clipper.Clipper
}

func (s *skippingRecorder) Skippable(pts time.Duration) bool { return s.cl.Skippable(pts) }

// Leaving unwanted non-reference frames undecoded changes nothing the clipper sees or makes:
// the same frame times in the same order, the same clips to the last float, with about half
// the frames of a B-frame H.264 file (x264 with three B-frames, one of them a reference) never decoded. Also under frame threads, and at a low
// frame rate where a run of skipped B-frames nears the gap tolerance.
func TestSkipUnwantedNonReferenceFrames(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		rate, threads int
		ccfg          clipper.Config
	}{
		{30, 1, clipper.Config{Frames: 4, SamplingRate: 6, Size: 32}},
		{30, 3, clipper.Config{Frames: 4, SamplingRate: 6, Size: 32}},
		{8, 1, clipper.Config{Frames: 4, SamplingRate: 6, Size: 32, GapTolerance: 300 * time.Millisecond}},
	} {
		t.Run(fmt.Sprintf("%dfps_threads%d", tc.rate, tc.threads), func(t *testing.T) {
			path := fmt.Sprintf("%s/b%d.mp4", dir, tc.rate)
			testkit.FFmpeg(t, "-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=160x120:rate=%d:duration=8", tc.rate),
				"-c:v", "libx264", "-preset", "medium", "-bf", "3", "-x264-params", "b-adapt=0", "-pix_fmt", "yuv420p", path)
			all := decodeClips(t, path, tc.ccfg, tc.threads, false)
			some := decodeClips(t, path, tc.ccfg, tc.threads, true)
			total := int64(8 * tc.rate)
			if all.dec.FramesDecoded != total || all.dec.FramesSkipped != 0 {
				t.Fatalf("without skipping: %d frames decoded, %d skipped; want %d, 0", all.dec.FramesDecoded, all.dec.FramesSkipped, total)
			}
			if got := some.dec.FramesDecoded + some.dec.FramesSkipped; got != total {
				t.Errorf("with skipping: %d decoded + %d skipped = %d, want %d", some.dec.FramesDecoded, some.dec.FramesSkipped, got, total)
			}
			if tc.rate == 30 && tc.threads == 1 && some.dec.FramesSkipped < total/4 { // frame threads hold frames back, so fewer are known unwanted in time
				t.Errorf("only %d of %d frames skipped", some.dec.FramesSkipped, total)
			}
			if some.dec.FramesSkipped == 0 {
				t.Errorf("no frame skipped")
			}
			if !slices.Equal(all.frames, some.frames) {
				t.Errorf("the clipper was offered %d times with skipping, %d without, or in another order", len(some.frames), len(all.frames))
			}
			if some.clp.Gaps != all.clp.Gaps || some.clp.Gaps != 0 {
				t.Errorf("gaps: %d with skipping, %d without", some.clp.Gaps, all.clp.Gaps)
			}
			if len(all.clips) < 3 || len(some.clips) != len(all.clips) {
				t.Fatalf("%d clips with skipping, %d without", len(some.clips), len(all.clips))
			}
			for i, c := range all.clips {
				o := some.clips[i]
				if o.Start != c.Start || o.End != c.End {
					t.Errorf("clip %d spans %v..%v with skipping, %v..%v without", i, o.Start, o.End, c.Start, c.End)
				}
				for j := range c.Tensor {
					if o.Tensor[j] != c.Tensor[j] {
						t.Errorf("clip %d differs at %d: %v vs %v", i, j, o.Tensor[j], c.Tensor[j])
						break
					}
				}
			}
			if math.Abs(some.dec.FPS-all.dec.FPS) > 0.5 {
				t.Errorf("fps %.2f with skipping, %.2f without", some.dec.FPS, all.dec.FPS)
			}
		})
	}
}
