package decode

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/media"
)

// Every codec family cameras and files use decodes with exact frame counts and timestamps.
func TestDecodeCodecs(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		enc, ext, want string
		extra          []string
	}{
		{"libx265", "mp4", "hevc", []string{"-x265-params", "log-level=none", "-preset", "ultrafast"}},
		{"libvpx", "webm", "vp8", []string{"-deadline", "realtime", "-cpu-used", "8"}},
		{"libvpx-vp9", "webm", "vp9", []string{"-deadline", "realtime", "-cpu-used", "8"}},
		{"mjpeg", "mkv", "mjpeg", nil},
		{"mpeg4", "avi", "mpeg4", nil},
	}
	for _, c := range cases {
		path := genTestsrc(t, dir, 96, 64, 10, 1, c.enc, c.ext, c.extra...)
		s := &recSampler{every: 2, lo: -10, hi: 10}
		d, _, err := decodeFile(t, path, Config{Size: 32}, s)
		if err != nil {
			t.Errorf("%s: %v", c.enc, err)
			continue
		}
		st := d.Stats()
		if st.Codec != c.want || st.FramesDecoded != 10 || st.FramesConverted != 5 || st.DecodeErrors != 0 || s.bad != 0 {
			t.Errorf("%s: stats %+v (bad pixels %d)", c.enc, st, s.bad)
			continue
		}
		for i, pts := range s.all {
			if want := time.Duration(i) * 100 * time.Millisecond; pts-want > time.Millisecond || want-pts > time.Millisecond {
				t.Errorf("%s: frame %d pts %v, want %v", c.enc, i, pts, want)
				break
			}
		}
	}
}

// With frame threads FFmpeg holds frames back; Flush still delivers every one, in order.
func TestDecodeThreadsFlush(t *testing.T) {
	path := genTestsrc(t, t.TempDir(), 160, 120, 25, 1, "libx264", "mp4")
	s := &recSampler{every: 1, lo: -10, hi: 10}
	d, _, err := decodeFile(t, path, Config{Size: 32, Threads: 2}, s)
	if err != nil {
		t.Fatal(err)
	}
	if n := d.Stats().FramesDecoded; n != 25 || len(s.all) != 25 {
		t.Fatalf("%d frames with 2 threads, want 25", n)
	}
	for i := 1; i < len(s.all); i++ {
		if s.all[i] <= s.all[i-1] {
			t.Fatalf("pts not increasing at %d: %v", i, s.all)
		}
	}
}

// A stream whose codec and size change (a camera reconfigured) reopens the decoder and the
// conversion geometry; the thumbnail follows.
func TestCodecChangeMidStream(t *testing.T) {
	dir := t.TempDir()
	a := genTestsrc(t, dir, 96, 64, 10, 1, "libx264", "mp4")
	b := genTestsrc(t, dir, 128, 96, 10, 1, "mpeg4", "mp4")
	s := &recSampler{every: 1, lo: -10, hi: 10}
	d, err := New(Config{Size: 32, ResizeShortSide: 48}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res, err := demux.Run(context.Background(), media.DemuxConfig{URL: a}, d.Decode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := demux.Run(context.Background(), media.DemuxConfig{URL: b, PTSOffset: res.End}, d.Decode); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	if st.FramesDecoded != 20 || st.Codec != "mpeg4" || st.Width != 128 || st.Height != 96 {
		t.Fatalf("stats %+v", st)
	}
	img, pts, err := d.Thumbnail()
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() != 64 || r.Dy() != 48 || pts != 1900*time.Millisecond {
		t.Errorf("thumbnail %v at %v, want 64x48 at 1.9s", r, pts)
	}
}

// Thumbnails and stats read from other goroutines while decoding at native speed (run with
// -race); the fps stat measures the real rate.
func TestThumbnailConcurrent(t *testing.T) {
	path := genTestsrc(t, t.TempDir(), 160, 120, 30, 1.5, "libx264", "mp4")
	d, err := New(Config{Size: 32}, &recSampler{every: 1, lo: -10, hi: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	got := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := d.ThumbnailJPEG(50); err == nil {
				got++
			} else if !errors.Is(err, ErrNoFrame) {
				t.Error(err)
				return
			}
			_ = d.Stats()
		}
	}()
	_, err = demux.Run(context.Background(), media.DemuxConfig{URL: path, Paced: true}, d.Decode)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got == 0 {
		t.Error("no thumbnail while decoding")
	}
	if fps := d.Stats().FPS; fps < 25 || fps > 36 {
		t.Errorf("fps %.1f decoding a 30 fps file at native speed", fps)
	}
}
