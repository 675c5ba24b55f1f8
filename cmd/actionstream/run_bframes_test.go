package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/internal/testkit"
)

// The inputs of issue 9 that gave 0 clips and exit 0: `run` scores every clip the true frame
// times allow (clipper.Expect on ffprobe's presentation times of the source), with no backward
// frame-time step. The full encoding corpus is decode's TestEncodingCorpus; this is the same
// check through the command a user runs.
func TestRunScoresBFrameFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes with the ffmpeg CLI")
	}
	model := testkit.TinyModel(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "source.y4m")
	testkit.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=4", "-pix_fmt", "yuv420p", src)
	h264 := filepath.Join(dir, "h264b.mp4")
	testkit.FFmpeg(t, "-i", src, "-c:v", "libx264", "-preset", "ultrafast", "-bf", "3", "-g", "25", "-pix_fmt", "yuv420p", h264)
	cases := map[string][]string{
		// MPEG-4 ASP, packed B-frames, no PTS in the container (as an XVID AVI).
		"xvid.avi": {"-i", src, "-c:v", "libxvid", "-bf", "2", "-vtag", "XVID", "-g", "25"},
		// B-frames with pts = dts in every packet (as VLC writes MP4s).
		"vlc.mp4": {"-i", h264, "-c", "copy", "-bsf:v", "setts=pts=DTS"},
		// A raw elementary stream: no timestamps at all.
		"raw.h264": {"-i", h264, "-c", "copy"},
		// Timed B-frames: the ones no clip needs are left undecoded, and said so.
		"h264b.mkv": {"-i", h264, "-c", "copy"},
	}
	truth := testkit.FramePTS(t, src)
	summary := regexp.MustCompile(`frames decoded (\d+)(?: \(and (\d+) skipped: non-reference frames no clip needed\))?, clips scored (\d+), .* backward frame-time steps (\d+),`)
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join(dir, name)
			testkit.FFmpeg(t, append(args, "-an", in)...)
			var stdout, stderr bytes.Buffer
			code := runMain(context.Background(), []string{"run", "--model", model, "--input", in, "--clip-scored=false"}, &stdout, &stderr)
			m := summary.FindStringSubmatch(stderr.String())
			if code != 0 || m == nil {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
			}
			decoded, _ := strconv.Atoi(m[1])
			skipped, _ := strconv.Atoi(m[2])
			scored, _ := strconv.Atoi(m[3])
			backward, _ := strconv.Atoi(m[4])
			frames := decoded + skipped
			if (skipped > 0) != (name == "h264b.mkv") {
				t.Errorf("%d frames skipped; stderr:\n%s", skipped, stderr.String())
			}
			if frames < 1 || frames > len(truth) {
				t.Fatalf("%d frames decoded of %d", frames, len(truth))
			}
			// An encoder may drop the last frames (libxvid in packed mode): the truth is the
			// source's first `frames` times.
			want, err := clipper.Expect(truth[:frames], clipper.Config{Frames: 4, SamplingRate: 6, Size: 32})
			if err != nil {
				t.Fatal(err)
			}
			if backward != 0 || scored < len(want.Clips)-1 || scored > len(want.Clips) {
				t.Errorf("clips scored %d (want %d within 1), backward steps %d; stderr:\n%s", scored, len(want.Clips), backward, stderr.String())
			}
		})
	}
}
