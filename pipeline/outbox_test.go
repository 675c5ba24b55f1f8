package pipeline

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
	"github.com/actionstream/actionstream/sink/outbox"
)

// With Kafka down from the start and a small outbox: /readyz says the sink is down and then
// that the outbox is full (inference waits) and /metrics agrees; a graceful stop ends within
// shutdown_timeout and keeps Kafka's events, which the next start delivers.
func TestOutboxKeepsEventsOfADeadSink(t *testing.T) {
	model := testkit.TinyModel(t)
	dir := t.TempDir()
	video := testkit.MakeVideo(t, dir, testkit.Video{FPS: "30", Seconds: 2})
	kafka := sinktest.StartKafka(t, "ob.events", "ob.clips")
	kafka.Stop()

	cfg := configs.Default()
	cfg.Model.Path = model
	cfg.Model.Runtime.Threads = 1
	cfg.HTTP.Addr = ""
	cfg.Events.ClipScored = true
	cfg.Streams = []configs.Stream{{ID: "cam", URL: video, Loop: true}, {ID: "gone", URL: "rtsp://127.0.0.1:1/none", Transport: "tcp"}}
	eventsPath := filepath.Join(dir, "events.jsonl")
	cfg.Sinks.JSONL.Path = eventsPath
	cfg.Sinks.Kafka.Enabled, cfg.Sinks.Kafka.Brokers = true, []string{kafka.Addr()}
	cfg.Sinks.Kafka.Topic, cfg.Sinks.Kafka.ClipTopic = "ob.events", "ob.clips"
	cfg.Sinks.Kafka.WriteTimeout = configs.Duration(time.Second)
	cfg.Sinks.Outbox = outbox.Config{Fsync: "always", MaxEntries: 6, MaxBytes: 1 << 20, HighWater: 0.5}
	cfg.Sinks.DownGrace = configs.Duration(300 * time.Millisecond)
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.ShutdownTimeout = configs.Duration(3 * time.Second)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	p, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	var body string
	testutil.WaitFor(t, 30*time.Second, func() bool {
		var code int
		code, body = get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "outbox full (6 events") &&
			strings.Contains(body, "sink kafka down for")
	}, func() string { return "/readyz: " + body })
	_, metrics := get("/metrics")
	for _, want := range []string{"actionstream_outbox_full 1", "actionstream_outbox_entries 6", `actionstream_outbox_lag{sink="kafka"} 6`,
		`actionstream_outbox_lag{sink="jsonl"} 0`, `actionstream_sink_up{sink="kafka"} 0`, "actionstream_outbox_blocked_appends_total",
		`actionstream_stream_status{status="failing",stream="gone"} 1`, `actionstream_stream_status{status="up",stream="cam"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "gone") {
		t.Errorf("a failing stream makes /readyz fail: %s", body)
	}
	_, api := get("/api/streams")
	if !strings.Contains(api, `"id":"gone"`) || !strings.Contains(api, `"status":"failing"`) || !strings.Contains(strings.ToLower(api), "connection refused") {
		t.Errorf("/api/streams does not say the stream is failing and why: %s", api)
	}
	inFile := fileIDs(t, eventsPath)
	if len(inFile) != 6 {
		t.Errorf("%d events in the file, want the outbox's 6", len(inFile))
	}

	stopped := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Logf("shutdown reported: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return with a dead sink and a full outbox")
	}
	if took := time.Since(stopped); took > cfg.ShutdownTimeout.D()+time.Second {
		t.Errorf("shutdown took %s, shutdown_timeout is %s", took, cfg.ShutdownTimeout)
	}

	// Next start, Kafka back: the kept events arrive; new ones follow.
	kafka.Start()
	cfg.Sinks.Outbox.MaxEntries = 1000
	p2, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- p2.Run(ctx2) }()
	got := map[string]bool{}
	testutil.WaitFor(t, 30*time.Second, func() bool {
		for _, r := range sinktest.ConsumeKafka(t, kafka.Addr(), []string{"ob.events", "ob.clips"}, 1) {
			if e, err := events.ParseJSON(r.Value); err == nil {
				got[e.ID] = true
			}
		}
		for id := range inFile {
			if !got[id] {
				return false
			}
		}
		return true
	}, func() string { return "the events kept in the outbox did not reach Kafka" })
	cancel2()
	if err := <-done2; err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}

func fileIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		e, err := events.ParseJSON(sc.Bytes())
		if err != nil {
			t.Fatalf("file line %q: %v", sc.Text(), err)
		}
		ids[e.ID] = true
	}
	return ids
}

// A state_dir that is a file, or an outbox another process holds, stops New with an error
// naming state_dir.
func TestStateDirErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := configs.Default()
	cfg.Model.Path = testkit.TinyModel(t)
	cfg.Model.Runtime.Threads = 1
	cfg.HTTP.Addr = ""
	cfg.Sinks.JSONL.Path = filepath.Join(dir, "events.jsonl")

	cfg.StateDir = filepath.Join(dir, "a-file")
	if err := os.WriteFile(cfg.StateDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Config: cfg}); err == nil || !strings.HasPrefix(err.Error(), "state_dir: outbox: create data directory") {
		t.Errorf("state_dir is a file: %v", err)
	}

	// New failing after it opened the outbox releases it.
	cfg.StateDir = filepath.Join(dir, "state")
	video := testkit.MakeVideo(t, dir, testkit.Video{FPS: "30", Seconds: 1})
	cfg.Streams = []configs.Stream{{ID: "twice", URL: video}, {ID: "twice", URL: video}}
	if _, err := New(Options{Config: cfg}); !errors.Is(err, ErrDuplicateStream) {
		t.Fatalf("duplicate stream: %v", err)
	}
	cfg.Streams = nil
	held, err := outbox.Open(cfg.StateDir, outbox.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("the failed New kept the outbox: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(context.Background())
	if _, err := New(Options{Config: cfg}); err == nil || !strings.HasPrefix(err.Error(), "state_dir: outbox: open ") || !strings.HasSuffix(err.Error(), "outbox.db: timeout") {
		t.Errorf("outbox held by another: %v", err)
	}
}
