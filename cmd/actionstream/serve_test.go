package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// TestServeEndToEnd runs the daemon on a looping file: health, readiness, metrics and the
// streams API answer while it runs, clips are scored, and cancelling (as SIGINT does) shuts it
// down in order with every event flushed to the JSON-lines file.
func TestServeEndToEnd(t *testing.T) {
	model := testkit.TinyModel(t)
	dir := t.TempDir()
	video := testkit.MakeVideo(t, dir, testkit.Video{FPS: "30", Seconds: 2})
	eventsPath := filepath.Join(dir, "events.jsonl")
	cfgPath := filepath.Join(dir, "serve.yaml")
	cfg := fmt.Sprintf(`model: {path: %q, runtime: {threads: 1}}
streams:
  - {id: cam-1, url: %q, loop: true}
  - {id: cam-2, url: "file://%s"}
events: {clip_scored: true}
sinks: {jsonl: {enabled: true, path: %q}}
http: {addr: "127.0.0.1:0"}
state_dir: %q
shutdown_timeout: 20s
`, model, video, video, eventsPath, filepath.Join(dir, "state"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testutil.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- runMain(ctx, []string{"serve", "--config", cfgPath}, &stdout, &stderr) }()

	addrRE := regexp.MustCompile(`msg="http listening".*addr=(127\.0\.0\.1:\d+)`)
	var base string
	testutil.WaitFor(t, 30*time.Second, func() bool {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			base = "http://" + m[1]
			return true
		}
		return false
	}, func() string { return "no listening line in:\n" + stderr.String() })

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	testutil.WaitFor(t, 30*time.Second, func() bool { code, _ := get("/readyz"); return code == 200 }, testutil.Says("never ready"))

	// Clips get scored on the looping stream.
	var api struct {
		Model   map[string]any `json:"model"`
		Streams []struct {
			ID     string  `json:"id"`
			Status string  `json:"status"`
			Clips  uint64  `json:"clips"`
			FPS    float64 `json:"fps"`
		} `json:"streams"`
	}
	testutil.WaitFor(t, 60*time.Second, func() bool {
		_, body := get("/api/streams")
		if err := json.Unmarshal([]byte(body), &api); err != nil {
			return false
		}
		return len(api.Streams) == 2 && api.Streams[0].ID == "cam-1" && api.Streams[0].Clips >= 3 && api.Streams[0].Status == "up"
	}, func() string { _, b := get("/api/streams"); return "streams: " + b })
	if api.Model["name"] != "tiny" {
		t.Errorf("api model: %v", api.Model)
	}
	_, metrics := get("/metrics")
	for _, name := range []string{"actionstream_stream_fps{stream=\"cam-1\"}", "actionstream_frames_decoded_total", "actionstream_decode_errors_total",
		`actionstream_clips_dropped_total{reason="stale",stream="cam-1"}`, `actionstream_clips_dropped_total{reason="gap",stream="cam-1"}`, "actionstream_pts_backward_steps_total", "actionstream_pts_repairs_total", "actionstream_batcher_pending", "actionstream_batch_size_bucket",
		"actionstream_inference_seconds_bucket", "actionstream_events_total{type=\"clip.scored\"}", "actionstream_sink_errors_total{sink=\"jsonl\"}", "actionstream_whip_sessions 0"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	cancel() // what SIGINT/SIGTERM do
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down")
	}

	// Every event reached the file, and they are valid CloudEvents.
	f, err := os.Open(eventsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		e, err := events.ParseJSON(sc.Bytes())
		if err != nil {
			t.Fatalf("bad event line %q: %v", sc.Text(), err)
		}
		counts[e.Type+"/"+e.Data.Stream]++
	}
	if counts["clip.scored/cam-1"] < 3 || counts["stream.up/cam-1"] != 1 || counts["stream.up/cam-2"] != 1 {
		t.Errorf("event counts: %v", counts)
	}
	if counts["stream.down/cam-2"] != 1 {
		t.Errorf("the non-looping file should end with one stream.down: %v", counts)
	}
	if stdout.String() != "" {
		t.Errorf("events went to stdout although a file was configured: %q", stdout.String()[:min(200, len(stdout.String()))])
	}
}
