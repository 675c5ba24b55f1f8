package decode

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/media"
)

// ffmpeg runs the ffmpeg CLI to make a fixture.

// genTestsrc writes a w×h testsrc clip of dur seconds at rate fps encoded with codec.
func genTestsrc(t testing.TB, dir string, w, h, rate int, dur float64, codec, ext string, extra ...string) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("testsrc_%dx%d_%d_%s.%s", w, h, rate, codec, ext))
	args := []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=%dx%d:rate=%d:duration=%g", w, h, rate, dur),
		"-c:v", codec, "-pix_fmt", "yuv420p"}
	if codec == "libx264" {
		args = append(args, "-preset", "ultrafast", "-bf", "2", "-g", "12")
	}
	args = append(args, extra...)
	testkit.FFmpeg(t, append(args, path)...)
	return path
}

// recSampler is a test Sampler: it records every PTS, wants every Nth frame and checks the
// converted pixels are inside the normalized range.
type recSampler struct {
	every     int
	all       []time.Duration
	converted []time.Duration
	lo, hi    float32
	bad       int
}

func (s *recSampler) Want(pts time.Duration) bool {
	s.all = append(s.all, pts)
	return s.every > 0 && (len(s.all)-1)%s.every == 0
}

func (s *recSampler) Add(f *clipper.Frame) []*clipper.Clip {
	s.converted = append(s.converted, f.PTS)
	for _, v := range f.Pixels {
		if v < s.lo || v > s.hi {
			s.bad++
			break
		}
	}
	return nil
}

// decodeFile runs Demux into a Decoder with the given Sampler until end of input.
func decodeFile(t testing.TB, path string, cfg Config, s Sampler) (*Decoder, media.DemuxResult, error) {
	t.Helper()
	d, err := New(cfg, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	res, err := demux.Run(context.Background(), media.DemuxConfig{URL: path}, d.Decode)
	if err == nil {
		err = d.Flush()
	}
	return d, res, err
}

var _ = ingest.Packet{}
