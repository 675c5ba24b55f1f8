package file_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/file"
)

func gen(t *testing.T, dir string, rate int, dur float64) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("in_%d.mp4", rate))
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=96x64:rate=%d:duration=%g", rate, dur),
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}

func TestPath(t *testing.T) {
	cases := map[string]string{
		"/a/b.mp4":                 "/a/b.mp4",
		"rel/b.mp4":                "rel/b.mp4",
		"file:///a/b%20c.mp4":      "/a/b c.mp4",
		"file:rel/b.mp4":           "rel/b.mp4",
		"file://localhost/a/b.mp4": "/a/b.mp4",
	}
	for in, want := range cases {
		if got, err := file.Path(in); err != nil || got != want {
			t.Errorf("Path(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := file.Path("file://"); !errors.Is(err, ingest.ErrPermanent) {
		t.Errorf("empty file URL: %v", err)
	}
}

func TestPlayOnceFromURL(t *testing.T) {
	path := gen(t, t.TempDir(), 25, 2)
	src, err := file.New(file.Config{URL: "file://" + path})
	if err != nil {
		t.Fatal(err)
	}
	var pts []time.Duration
	start := time.Now()
	if err := src.Run(context.Background(), func(p ingest.Packet) error {
		if len(pts) == 0 && (p.Codec == nil || !p.Key) {
			t.Errorf("first packet: codec %v key %v", p.Codec, p.Key)
		}
		pts = append(pts, p.PTS)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(pts) != 50 {
		t.Fatalf("%d packets, want 50", len(pts))
	}
	// Paced it would take 1.96 s.
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("unpaced 2 s file took %v", el)
	}
}

// A looping file keeps its timestamps increasing pass after pass; paced, it plays at native speed.
func TestLoopPaced(t *testing.T) {
	path := gen(t, t.TempDir(), 10, 0.5)
	src, err := file.New(file.Config{URL: path, Loop: true, Paced: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pts []time.Duration
	codecs := 0
	start := time.Now()
	err = src.Run(ctx, func(p ingest.Packet) error {
		pts = append(pts, p.PTS)
		if p.Codec != nil {
			codecs++
		}
		if len(pts) == 15 {
			cancel()
		}
		return nil
	})
	el := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if len(pts) != 15 || codecs != 3 {
		t.Fatalf("%d packets, %d codec infos", len(pts), codecs)
	}
	// Presentation order is monotonic per pass; passes start exactly where the last ended.
	for pass := 0; pass < 3; pass++ {
		if got, want := pts[pass*5], time.Duration(pass)*500*time.Millisecond; got != want {
			t.Errorf("pass %d starts at %v, want %v", pass, got, want)
		}
	}
	// 15 packets at 10 fps: the last is emitted ~1.4 s in.
	if el < 1200*time.Millisecond || el > 3*time.Second {
		t.Errorf("paced playback of 1.5 s took %v", el)
	}
	// A new Run (a supervisor restart) continues after the previous timestamps.
	var first time.Duration = -1
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	_ = src.Run(ctx2, func(p ingest.Packet) error {
		first = p.PTS
		cancel2()
		return nil
	})
	if first < 1500*time.Millisecond {
		t.Errorf("restarted source went back to %v", first)
	}
}

func TestMissingFileIsPermanent(t *testing.T) {
	src, err := file.New(file.Config{URL: filepath.Join(t.TempDir(), "nope.mp4")})
	if err != nil {
		t.Fatal(err)
	}
	sup := ingest.NewSupervisor(ingest.SupervisorConfig{MinBackoff: time.Millisecond})
	err = sup.Run(context.Background(), src, func(ingest.Packet) error { return nil })
	if !errors.Is(err, ingest.ErrPermanent) || sup.Restarts() != 0 {
		t.Fatalf("err = %v after %d restarts", err, sup.Restarts())
	}
}

// File -> supervisor -> decoder -> real clipper: every frame decoded, clips come out.
func TestSupervisedDecode(t *testing.T) {
	path := gen(t, t.TempDir(), 30, 2)
	src, err := file.New(file.Config{URL: path, Stream: "cam"})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := clipper.New("cam", clipper.Config{Frames: 4, SamplingRate: 6, Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	clips := 0
	d, err := decode.New(decode.Config{Stream: "cam", Size: 32}, cl, func(c *clipper.Clip) { clips++; c.Release() })
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ups, downs := 0, 0
	var reason string
	sup := ingest.NewSupervisor(ingest.SupervisorConfig{Stream: "cam",
		OnUp:   func() { ups++ },
		OnDown: func(r string, _ error) { downs++; reason = r }})
	if err := sup.Run(context.Background(), src, d.Decode); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	// 4 samples 0.2 s apart span 0.6 s, one every 0.4 s: starts 0, 0.4, ... 1.2 fit in 2 s.
	if st.FramesDecoded != 60 || clips != 4 || ups != 1 || downs != 1 || reason != ingest.ReasonEnd {
		t.Fatalf("decoded %d, clips %d, up %d down %d (%q)", st.FramesDecoded, clips, ups, downs, reason)
	}
}
