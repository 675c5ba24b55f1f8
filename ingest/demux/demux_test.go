package demux_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/media"
)

// Packets arrive as ingest.Packets: codec facts on the first only, both timestamps, a wall time.
func TestRunConvertsPackets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.mp4")
	testkit.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1", "-c:v", "libx264", "-preset", "ultrafast",
		"-bf", "2", "-pix_fmt", "yuv420p", path)
	var pkts []ingest.Packet
	before := time.Now()
	res, err := demux.Run(context.Background(), media.DemuxConfig{URL: path}, func(p ingest.Packet) error {
		p.Data = nil // aliases FFmpeg memory
		pkts = append(pkts, p)
		return nil
	})
	if err != nil || res.Packets != 10 || len(pkts) != 10 {
		t.Fatalf("err %v, %d packets", err, len(pkts))
	}
	c := pkts[0].Codec
	if c == nil || c.Codec != "h264" || c.Width != 64 || c.Height != 48 || c.FrameDuration != 100*time.Millisecond {
		t.Fatalf("first packet's codec %+v", c)
	}
	for i, p := range pkts {
		if i > 0 && p.Codec != nil {
			t.Errorf("packet %d repeats the codec", i)
		}
		if !p.HasDTS || p.Wall.Before(before) {
			t.Errorf("packet %d: %+v", i, p)
		}
	}
}

// media's permanent errors become ingest.ErrPermanent (the supervisor stops), with one clear
// message and no password.
func TestRunClassifiesErrors(t *testing.T) {
	wav := filepath.Join(t.TempDir(), "a.wav")
	testkit.FFmpeg(t, "-f", "lavfi", "-i", "sine=duration=0.2", wav)
	_, err := demux.Run(context.Background(), media.DemuxConfig{URL: wav, Name: "a.wav"}, func(ingest.Packet) error { return nil })
	if !errors.Is(err, ingest.ErrPermanent) || !errors.Is(err, media.ErrNoVideo) || err.Error() != "a.wav: no video stream" {
		t.Fatalf("audio-only: %v", err)
	}
	_, err = demux.Run(context.Background(), media.DemuxConfig{URL: "rtsp://admin:hunter2@127.0.0.1:1/cam", OpenTimeout: 2 * time.Second},
		func(ingest.Packet) error { return nil })
	if err == nil || errors.Is(err, ingest.ErrPermanent) || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("refused rtsp: %v", err)
	}
}
