package sources_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/file"
	"github.com/actionstream/actionstream/ingest/rtsp"
	"github.com/actionstream/actionstream/ingest/sources"
	"github.com/actionstream/actionstream/internal/testkit"
)

func TestSchemeSelectsSource(t *testing.T) {
	for _, c := range []struct {
		url  string
		want string
	}{
		{"rtsp://cam.local/stream", "rtsp"}, {"rtsps://u:p@cam.local/s", "rtsp"},
		{"file:///videos/a.mp4", "file"}, {"videos/a.mp4", "file"},
	} {
		src, err := sources.New(ingest.StreamConfig{ID: "cam", URL: c.url, StallTimeout: confkit.Duration(time.Second)}, sources.Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		switch src.(type) {
		case *rtsp.Source:
			if c.want != "rtsp" {
				t.Errorf("%s: got an RTSP source", c.url)
			}
		case *file.Source:
			if c.want != "file" {
				t.Errorf("%s: got a file source", c.url)
			}
		default:
			t.Errorf("%s: %T", c.url, src)
		}
	}
	_, err := sources.New(ingest.StreamConfig{ID: "cam", URL: "http://admin:hunter2@cam.local/video"}, sources.Options{})
	if !errors.Is(err, sources.ErrUnsupportedURL) || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "cam.local") {
		t.Fatalf("unsupported URL: %v (want ErrUnsupportedURL naming the host, password redacted)", err)
	}
	if _, err := sources.New(ingest.StreamConfig{ID: "cam", URL: "rtsp://cam.local/s", Transport: "carrier-pigeon"}, sources.Options{}); err == nil {
		t.Error("bad transport accepted")
	}
}

// One-shot reads a looping file once, unpaced; serving loops it at native speed.
func TestOneShotReadsFileOnceUnpaced(t *testing.T) {
	if testing.Short() {
		t.Skip("makes a video with ffmpeg")
	}
	path := testkit.MakeVideo(t, t.TempDir(), testkit.Video{Seconds: 1, FPS: "10", Size: "64x64"})
	sc := ingest.StreamConfig{ID: "cam", URL: path, Loop: true}
	count := func(src ingest.Source, ctx context.Context) (int, error) {
		n := 0
		err := src.Run(ctx, func(ingest.Packet) error { n++; return nil })
		return n, err
	}

	once, err := sources.New(sc, sources.Options{OneShot: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	n, err := count(once, ctx)
	if err != nil || n != 10 {
		t.Fatalf("one-shot: %d packets, %v; want the file's 10 once and a clean end", n, err)
	}
	if d := time.Since(t0); d > 700*time.Millisecond {
		t.Errorf("one-shot took %v for a 1 s file: it must not be paced", d)
	}

	live, err := sources.New(sc, sources.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel2()
	n, _ = count(live, ctx2)
	if n <= 10 || n > 20 {
		t.Errorf("serving a looping 1 s file for 1.5 s gave %d packets, want a second pass at native speed (11..20)", n)
	}
}
