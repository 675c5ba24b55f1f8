package decode

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/internal/testkit"
)

// corpusCase is one file of the encoding corpus: how ffmpeg makes it from the source (or from an
// earlier case's file) and which file's frame times are the truth.
type corpusCase struct {
	name string
	// from is an earlier case's name to transcode or remux; "" encodes the generated source.
	from string
	args []string
	// truthFrom names the case whose ffprobe frame times are the true ones ("" = this file):
	// a remux that rewrote pts = dts keeps the original's presentation times.
	truthFrom string
	// check asserts a property of the made file that the case exists to cover.
	check func(t *testing.T, path string)
}

var (
	x264    = []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25"}
	x264NoB = append(slices.Clone(x264), "-bf", "0")
	x264Pyr = append(slices.Clone(x264), "-bf", "3", "-x264-params", "b-pyramid=normal:b-adapt=0")
	x265    = []string{"-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-x265-params", "bframes=3:b-pyramid=1:keyint=25:log-level=error"}
	remux = []string{"-c", "copy"}
)

func corpus() []corpusCase {
	cs := []corpusCase{
		{name: "h264-nob.mp4", args: x264NoB},
		{name: "h264-pyramid.mp4", args: x264Pyr, check: wantBFrames},
	}
	for _, src := range []string{"h264-nob", "h264-pyramid"} {
		for _, ext := range []string{"mkv", "ts", "flv", "avi", "h264"} {
			cs = append(cs, corpusCase{name: src + "." + ext, from: src + ".mp4", args: remux, truthFrom: src + ".mp4"})
		}
	}
	return append(cs,
		corpusCase{name: "hevc-b.mp4", args: append(slices.Clone(x265), "-tag:v", "hvc1"), check: wantBFrames},
		corpusCase{name: "hevc-b.hevc", from: "hevc-b.mp4", args: remux, truthFrom: "hevc-b.mp4"},
		// libxvid writes B-frames DivX-style, packed with the previous P-frame: the container has
		// no PTS at all and every other packet is a placeholder.
		corpusCase{name: "mpeg4-packed.avi", truthFrom: "source", args: []string{"-c:v", "libxvid", "-bf", "2", "-vtag", "XVID", "-g", "25"}, check: wantPacked},
		corpusCase{name: "mjpeg.avi", args: []string{"-c:v", "mjpeg", "-q:v", "8", "-pix_fmt", "yuvj420p"}},
		corpusCase{name: "vp9.webm", args: []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-g", "25"}},
		// Stream copy from 1.3 s: the MP4 muxer writes an edit list that starts mid-GOP.
		corpusCase{name: "h264-editlist.mp4", from: "h264-pyramid.mp4", args: []string{"-ss", "1.3", "-c", "copy"}, check: wantEditList},
		// Frame steps of 40 ms, then 80 ms, then 40 ms again.
		corpusCase{name: "h264-vfr.mp4", args: append([]string{"-vf", "setpts='if(lt(N,40),N*0.04,if(lt(N,80),1.6+(N-40)*0.08,4.8+(N-80)*0.04))/TB'",
			"-fps_mode", "passthrough"}, x264Pyr...)},
		// What VLC writes: B-frames, but every packet's pts equals its dts.
		corpusCase{name: "h264-ptsdts.mp4", from: "h264-pyramid.mp4", args: []string{"-c", "copy", "-bsf:v", "setts=pts=DTS"},
			truthFrom: "h264-pyramid.mp4", check: wantPTSIsDTS},
	)
}

// TestEncodingCorpus decodes files written by the ffmpeg CLI in every container and codec the
// issue names and checks that the clipper, fed our decoded times, yields the clips the sampling
// arithmetic gives for the true frame times (ffprobe's), with no backward step.
func TestEncodingCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes a corpus with the ffmpeg CLI")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "source.y4m")
	testkit.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=6", "-pix_fmt", "yuv420p", src)
	ccfg := clipper.Config{Frames: 4, SamplingRate: 3, Size: 32}
	made := map[string]string{"source": src}
	for _, c := range corpus() {
		in := src
		if c.from != "" {
			in = made[c.from]
		}
		path := filepath.Join(dir, c.name)
		testkit.FFmpeg(t, append(append([]string{"-i", in}, c.args...), "-an", path)...)
		made[c.name] = path
		t.Run(c.name, func(t *testing.T) {
			if c.check != nil {
				c.check(t, path)
			}
			truthPath := path
			if c.truthFrom != "" {
				truthPath = made[c.truthFrom]
			}
			truth := probeFrameTimes(t, truthPath)
			if c.truthFrom != "" {
				// The truth's first n times, n being the frames FFmpeg decodes from this file (an
				// encoder may drop the last frames, as libxvid does in packed mode).
				out := strings.Fields(ffprobe(t, "-count_frames", "-select_streams", "v:0",
					"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path))
				n, err := strconv.Atoi(strings.Join(out[:min(1, len(out))], ""))
				if err != nil || n < 1 || n > len(truth) {
					t.Fatalf("ffprobe counts %d frames (%v) of %d", n, err, len(truth))
				}
				truth = truth[:n]
			}
			want, err := clipper.Expect(truth, ccfg)
			if err != nil {
				t.Fatal(err)
			}
			// Decoded twice: every frame, then leaving unwanted non-reference frames undecoded;
			// the clipper must be offered the same times and make the same clips.
			run := func(skip bool) ([]clipSpan, []time.Duration, Stats, clipper.Stats) {
				cl, err := clipper.New("corpus", ccfg)
				if err != nil {
					t.Fatal(err)
				}
				var got []clipSpan
				var offered []time.Duration
				ds := decodeThrough(t, path, Config{Stream: c.name, Size: ccfg.Size}, recorderFor(cl, &offered, skip), func(c *clipper.Clip) {
					got = append(got, clipSpan{c.Start, c.End})
					c.Release()
				})
				return got, offered, ds, cl.Stats()
			}
			got, offered, ds, cs := run(true)
			gotAll, offeredAll, dsAll, _ := run(false)
			if !slices.Equal(got, gotAll) || !slices.Equal(offered, offeredAll) {
				t.Errorf("skipping %d unwanted frames changed the clips (%d, %d without) or the %d frame times offered (%d without)",
					ds.FramesSkipped, len(got), len(gotAll), len(offered), len(offeredAll))
			}
			if dsAll.FramesSkipped != 0 {
				t.Errorf("%d frames skipped by a sampler that cannot tell", dsAll.FramesSkipped)
			}
			if ds.BackwardSteps != 0 || cs.Discontinuities != 0 {
				t.Errorf("backward steps: decoder %d, clipper %d; want 0", ds.BackwardSteps, cs.Discontinuities)
			}
			if n := int64(len(truth)); ds.FramesDecoded+ds.FramesSkipped != n || dsAll.FramesDecoded != n {
				t.Errorf("decoded %d frames and skipped %d (every frame: %d), ffprobe %d", ds.FramesDecoded, ds.FramesSkipped, dsAll.FramesDecoded, n)
			}
			if diff := len(got) - len(want.Clips); diff < -1 || diff > 1 {
				t.Fatalf("%d clips, want %d (gaps %d, repairs %d)", len(got), len(want.Clips), cs.Gaps, ds.Repairs)
			}
			// Spans are compared from each side's first clip, within one frame (~40 ms).
			for i := range min(len(got), len(want.Clips)) {
				g, w := got[i], want.Clips[i]
				gs, ws := g.start-got[0].start, w.Start-want.Clips[0].Start
				if abs(gs-ws) > 45*time.Millisecond || abs((g.end-g.start)-(w.End-w.Start)) > 45*time.Millisecond {
					t.Errorf("clip %d starts at %v lasting %v, want %v lasting %v", i, gs, g.end-g.start, ws, w.End-w.Start)
				}
			}
			t.Logf("%d frames (%d skipped), %d clips (want %d), %d repairs", ds.FramesDecoded+ds.FramesSkipped, ds.FramesSkipped, len(got), len(want.Clips), ds.Repairs)
		})
	}
}

type clipSpan struct{ start, end time.Duration }

func abs(d time.Duration) time.Duration { return max(d, -d) }

// probeFrameTimes returns ffprobe's presentation times of every video frame, in presentation
// order, relative to the first.
func probeFrameTimes(t *testing.T, path string) []time.Duration {
	t.Helper()
	out := ffprobe(t, "-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time", "-of", "csv=p=0", path)
	var ts []time.Duration
	for _, f := range strings.Fields(out) {
		f = strings.TrimSuffix(f, ",")
		if f == "N/A" {
			t.Fatalf("%s: ffprobe has a frame without time", path)
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			t.Fatalf("ffprobe time %q: %v", f, err)
		}
		ts = append(ts, time.Duration(v*float64(time.Second)))
	}
	if len(ts) == 0 {
		t.Fatalf("%s: ffprobe found no frames", path)
	}
	slices.Sort(ts)
	first := ts[0]
	for i := range ts {
		ts[i] -= first
	}
	return ts
}

func ffprobe(t *testing.T, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("ffprobe", append([]string{"-v", "error"}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %v: %v: %s", args, err, stderr.String())
	}
	return string(out)
}

// packetTimes returns each video packet's "pts,dts" as ffprobe prints them.
func packetTimes(t *testing.T, path string) []string {
	return strings.Fields(ffprobe(t, "-select_streams", "v:0", "-show_entries", "packet=pts,dts", "-of", "csv=p=0", path))
}

func wantBFrames(t *testing.T, path string) {
	out := ffprobe(t, "-select_streams", "v:0", "-show_entries", "frame=pict_type", "-of", "csv=p=0", path)
	if !strings.Contains(out, "B") {
		t.Fatalf("%s has no B-frames", filepath.Base(path))
	}
}

func wantPTSIsDTS(t *testing.T, path string) {
	wantBFrames(t, path)
	for _, p := range packetTimes(t, path) {
		if pts, dts, _ := strings.Cut(p, ","); pts != dts {
			t.Fatalf("packet with pts %s != dts %s", pts, dts)
		}
	}
}

func wantPacked(t *testing.T, path string) {
	out, _ := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "info", "-i", path, "-f", "null", "-").CombinedOutput()
	if !bytes.Contains(out, []byte("packed B-frames")) {
		t.Fatalf("ffmpeg does not see packed B-frames: %s", out)
	}
	for _, p := range packetTimes(t, path) {
		if !strings.HasPrefix(p, "N/A,") {
			return // some packets have a PTS (the non-B ones FFmpeg could infer): fine
		}
	}
}

func wantEditList(t *testing.T, path string) {
	out, err := exec.Command("ffprobe", "-v", "trace", path).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("type:'elst'")) {
		t.Fatal("no edit list (elst box) in the MP4")
	}
}
