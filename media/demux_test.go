package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/actionstream/actionstream/internal/testkit"
)

// ffmpeg runs the ffmpeg CLI to make a fixture.

// testsrc writes dur seconds of 64×48, 25 fps H.264 (with B-frames) into an MP4.
func testsrc(t testing.TB, dur float64) string {
	path := filepath.Join(t.TempDir(), "src.mp4")
	testkit.FFmpeg(t, "-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=64x48:rate=25:duration=%g", dur),
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "12", "-pix_fmt", "yuv420p", path)
	return path
}

func TestRawPointers(t *testing.T) {
	cc := astiav.AllocCodecContext(astiav.FindDecoderByName("h264"))
	defer cc.Free()
	cc.SetWidth(1234)
	if got := int(rawCodecContext(cc).width); got != 1234 {
		t.Fatalf("raw AVCodecContext width = %d, want 1234: go-astiav layout changed", got)
	}
	p := astiav.AllocPacket()
	defer p.Free()
	p.SetPts(987654)
	p.SetStreamIndex(3)
	if r := rawPacket(p); int64(r.pts) != 987654 || int(r.stream_index) != 3 {
		t.Fatalf("raw AVPacket pts=%d idx=%d: go-astiav layout changed", r.pts, r.stream_index)
	}
}

func TestScaleTS(t *testing.T) {
	cases := []struct {
		v, num, den int64
		want        time.Duration
	}{
		{90000, 1, 90000, time.Second},
		{512, 1, 12800, 40 * time.Millisecond},
		{1, 1001, 30000, 33366666 * time.Nanosecond},
		{90000 * 3600 * 24 * 30, 1, 90000, 30 * 24 * time.Hour}, // a month at 90 kHz
		{-3000, 1, 90000, -33333333 * time.Nanosecond},
	}
	for _, c := range cases {
		if got := scaleTS(c.v, c.num, c.den); got != c.want {
			t.Errorf("scaleTS(%d, %d/%d) = %v, want %v", c.v, c.num, c.den, got, c.want)
		}
	}
}

// Packets carry both timestamps: with B-frames the PTS run out of order while the DTS rise.
func TestDemuxBothTimestamps(t *testing.T) {
	var reordered, dtsBack, noDTS int
	var lastPTS, lastDTS time.Duration
	n := 0
	_, err := Demux(context.Background(), DemuxConfig{URL: testsrc(t, 1)}, func(p Packet) error {
		if !p.HasDTS || p.NoPTS {
			noDTS++
		}
		if n > 0 && p.PTS < lastPTS {
			reordered++
		}
		if n > 0 && p.DTS <= lastDTS {
			dtsBack++
		}
		lastPTS, lastDTS = p.PTS, p.DTS
		n++
		return nil
	})
	if err != nil || n != 25 || reordered == 0 || dtsBack != 0 || noDTS != 0 {
		t.Fatalf("err %v, %d packets, %d reordered pts, %d dts not rising, %d without both", err, n, reordered, dtsBack, noDTS)
	}
}

func TestDemuxPacedAndOffset(t *testing.T) {
	path := testsrc(t, 1)
	var first, last time.Duration
	n := 0
	start := time.Now()
	res, err := Demux(context.Background(), DemuxConfig{URL: "file:" + path, Paced: true, PTSOffset: 5 * time.Second}, func(p Packet) error {
		if n == 0 {
			first = p.PTS
			if p.Info == nil || p.Info.Codec != "h264" || p.Info.Width != 64 || len(p.Info.Extradata) == 0 || p.Info.FrameDuration != 40*time.Millisecond {
				t.Errorf("first packet codec %+v", p.Info)
			}
		} else if p.Info != nil {
			t.Errorf("codec repeated on packet %d", n)
		}
		last = max(last, p.PTS)
		n++
		return nil
	})
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if n != 25 || res.Packets != 25 {
		t.Fatalf("%d packets", n)
	}
	if first < 5*time.Second || last != 5*time.Second+960*time.Millisecond || res.End != 6*time.Second {
		t.Errorf("first %v last %v end %v", first, last, res.End)
	}
	if el < 800*time.Millisecond || el > 3*time.Second {
		t.Errorf("paced 1 s file took %v", el)
	}
	// Cancellation stops a paced read promptly.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = Demux(ctx, DemuxConfig{URL: path, Paced: true}, func(Packet) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("cancelled paced demux: %v after %v", err, time.Since(start))
	}
}

// A consumer that blocks (back-pressure) is not the input stalling.
func TestDemuxSlowConsumerIsNotAStall(t *testing.T) {
	path := testsrc(t, 0.4)
	n := 0
	_, err := Demux(context.Background(), DemuxConfig{URL: path, StallTimeout: 300 * time.Millisecond}, func(Packet) error {
		n++
		if n == 3 {
			time.Sleep(time.Second)
		}
		return nil
	})
	if err != nil || n != 10 {
		t.Fatalf("err %v after %d packets", err, n)
	}
}

func TestDemuxErrors(t *testing.T) {
	_, err := Demux(context.Background(), DemuxConfig{URL: filepath.Join(t.TempDir(), "missing.mp4")}, func(Packet) error { return nil })
	if !errors.Is(err, ErrOpen) {
		t.Errorf("missing file: %v", err)
	}
	wav := filepath.Join(t.TempDir(), "a.wav")
	testkit.FFmpeg(t, "-f", "lavfi", "-i", "sine=duration=0.2", wav)
	_, err = Demux(context.Background(), DemuxConfig{URL: wav}, func(Packet) error { return nil })
	if !errors.Is(err, ErrNoVideo) || !Permanent(err) {
		t.Errorf("audio-only: %v", err)
	}
	// A password in the URL never shows in the error.
	_, err = Demux(context.Background(), DemuxConfig{URL: "rtsp://admin:hunter2@127.0.0.1:1/cam", OpenTimeout: 2 * time.Second}, func(Packet) error { return nil })
	if err == nil || bytes.Contains([]byte(err.Error()), []byte("hunter2")) {
		t.Errorf("rtsp error leaks or is nil: %v", err)
	}
}
