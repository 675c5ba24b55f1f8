package pipeline

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/file"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/sink"
)

// A source whose B-frame packets carry only their decode time (pts = dts, no dts) makes the
// decoded times go backwards; /metrics shows the steps and the repairs, and no clip is
// dropped for going backwards.
func TestMetricsShowTimestampRepairs(t *testing.T) {
	model := testkit.TinyModel(t)
	video := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "30", Seconds: 3, ExtraOut: []string{"-bf", "2"}})
	cfg := oneShotConfig(model, video)
	cfg.Streams = nil
	p, err := New(Options{Config: cfg, Sinks: []sink.Sink{&collect{}}})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := file.New(file.Config{Stream: "vlc", URL: video, Paced: true})
	if err != nil {
		t.Fatal(err)
	}
	src := ingest.SourceFunc(func(ctx context.Context, emit func(ingest.Packet) error) error {
		return fs.Run(ctx, func(pk ingest.Packet) error {
			pk.PTS, pk.NoPTS, pk.HasDTS = pk.DTS, false, false
			return emit(pk)
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !p.Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Attach("vlc", "file", src); err != nil {
		t.Fatal(err)
	}
	value := func(body, series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	var body string
	for time.Now().Before(deadline) {
		rec := httptest.NewRecorder()
		p.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body = rec.Body.String()
		if value(body, `actionstream_pts_backward_steps_total{stream="vlc"}`) > 0 && value(body, `actionstream_clips_total{stream="vlc"}`) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v := value(body, `actionstream_pts_backward_steps_total{stream="vlc"}`); v <= 0 {
		t.Fatalf("no backward steps on /metrics (%v):\n%s", v, body)
	}
	if v := value(body, `actionstream_pts_repairs_total{stream="vlc"}`); v <= 0 {
		t.Errorf("no repairs on /metrics (%v)", v)
	}
	if v := value(body, `actionstream_clips_dropped_total{reason="backward",stream="vlc"}`); v != 0 {
		t.Errorf("clips dropped for going backwards: %v", v)
	}
	if v := value(body, `actionstream_clips_dropped_total{reason="stale",stream="vlc"}`); v < 0 {
		t.Errorf("no stale series:\n%s", body)
	}
}
