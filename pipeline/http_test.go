package pipeline

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
	"github.com/actionstream/actionstream/sink"
)

// TestAPIStreamsShowsFailingCamera serves a camera whose port nobody listens on: serve keeps
// retrying it (past run's bound), and /api/streams shows it as failing with its attempt count
// and last error, credentials redacted.
func TestAPIStreamsShowsFailingCamera(t *testing.T) {
	model := testkit.TinyModel(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t)))
	cfg := oneShotConfig(model, "rtsp://viewer:s3cret@"+addr+"/cam")
	cfg.Supervisor.Initial = configs.Duration(50 * time.Millisecond)
	cfg.Supervisor.Max = configs.Duration(200 * time.Millisecond)
	p, err := New(Options{Config: cfg, Retries: 1, Sinks: []sink.Sink{&collect{}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	type apiStream struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		Reason    string `json:"reason"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	}
	var body string
	var st apiStream
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(srv.URL + "/api/streams")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		var got struct{ Streams []apiStream }
		if err := json.Unmarshal(b, &got); err != nil || len(got.Streams) != 1 {
			t.Fatalf("/api/streams %q: %v", body, err)
		}
		st = got.Streams[0]
		if st.Attempts >= 5 || time.Now().After(deadline) {
			break
		}
	}
	if st.Status != StatusFailing || st.Attempts < 5 {
		t.Fatalf("want status %q with >= 5 attempts (serve does not stop retrying), got %+v", StatusFailing, st)
	}
	for _, want := range []string{"viewer:xxxxx@" + addr, "Connection refused"} {
		if !strings.Contains(st.LastError, want) || !strings.Contains(st.Reason, want) {
			t.Errorf("last_error %q / reason %q lack %q", st.LastError, st.Reason, want)
		}
	}
	for _, field := range []string{`"attempts":`, `"last_error":`, `"backward_steps":`, `"clips_dropped_by_reason":`} {
		if !strings.Contains(body, field) {
			t.Errorf("/api/streams lacks %s: %s", field, body)
		}
	}
	if strings.Contains(body, "s3cret") {
		t.Errorf("/api/streams shows the camera password: %s", body)
	}
}
