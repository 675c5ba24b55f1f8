package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// cdp is a minimal Chrome DevTools Protocol client: one WebSocket to one target, requests
// matched to responses by id, events ignored.
type cdp struct {
	ws      *websocket.Conn
	mu      sync.Mutex
	next    int
	pending map[int]chan cdpMsg
	done    chan struct{}
	err     error
}

type cdpMsg struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Method string `json:"method"`
}

func dialCDP(t *testing.T, url string) *cdp {
	t.Helper()
	ws, err := websocket.Dial(url, "", "http://127.0.0.1/")
	if err != nil {
		t.Fatalf("devtools websocket %s: %v", url, err)
	}
	c := &cdp{ws: ws, pending: map[int]chan cdpMsg{}, done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { ws.Close(); <-c.done })
	return c
}

func (c *cdp) read() {
	defer close(c.done)
	for {
		var m cdpMsg
		if err := websocket.JSON.Receive(c.ws, &m); err != nil {
			c.mu.Lock()
			c.err = err
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		if m.ID == 0 {
			continue // an event
		}
		c.mu.Lock()
		ch := c.pending[m.ID]
		delete(c.pending, m.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

func (c *cdp) call(method string, params, result any) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.next++
	id := c.next
	ch := make(chan cdpMsg, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	if err := websocket.JSON.Send(c.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: connection closed: %v", method, c.err)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %d %s", method, m.Error.Code, m.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s: no answer", method)
	}
}

// eval runs a JavaScript expression in the page and decodes its (JSON-able) value into out.
func (c *cdp) eval(t *testing.T, expr string, out any) {
	t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := c.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		t.Fatal(err)
	}
	if r.ExceptionDetails != nil {
		t.Fatalf("%s: %s %s", expr, r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		if err := json.Unmarshal(r.Result.Value, out); err != nil {
			t.Fatalf("%s: %v (%s)", expr, err, r.Result.Value)
		}
	}
}

func (c *cdp) navigate(t *testing.T, url string) {
	t.Helper()
	if err := c.call("Page.navigate", map[string]any{"url": url}, nil); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, func() bool {
		var state string
		c.eval(t, `location.href + " " + document.readyState`, &state)
		return state == url+" complete"
	}, func() string { return "page did not load: " + url })
}

func (c *cdp) screenshot(t *testing.T, path string) {
	t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	if err := c.call("Page.captureScreenshot", map[string]any{"format": "png"}, &r); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil || len(b) < 1000 {
		t.Fatalf("screenshot: %d bytes, %v", len(b), err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// browser is a headless Chromium with fake camera devices, its DevTools HTTP endpoint known.
type browser struct {
	devtools string // http://127.0.0.1:PORT
}

func startChromium(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (scripts/setup installs Debian's chromium)")
	}
	cmd := exec.Command(bin, "--headless=new", "--no-sandbox", "--disable-gpu",
		"--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--remote-debugging-port=0",
		"--remote-allow-origins=*", "--window-size=1280,900", "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	var logMu sync.Mutex
	var logTail []string
	go func() {
		re := regexp.MustCompile(`DevTools listening on ws://([^/]+)/`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			logTail = append(logTail, line)
			if len(logTail) > 30 {
				logTail = logTail[1:]
			}
			logMu.Unlock()
			if m := re.FindStringSubmatch(line); m != nil {
				select {
				case found <- "http://" + m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	select {
	case dt := <-found:
		return &browser{devtools: dt}
	case <-time.After(30 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("chromium did not start its DevTools endpoint:\n%s", strings.Join(logTail, "\n"))
	}
	return nil
}

// page opens a new tab and connects to it.
func (b *browser) page(t *testing.T) *cdp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, b.devtools+"/json/new?about:blank", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var target struct {
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&target); err != nil || target.WebSocketDebuggerURL == "" {
		t.Fatalf("new tab: %v", err)
	}
	c := dialCDP(t, target.WebSocketDebuggerURL)
	if err := c.call("Page.enable", nil, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// artifactDir is testdata/artifacts at the repository root (ignored by git), for screenshots.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return t.TempDir()
		}
		dir = parent
	}
	out := filepath.Join(dir, "testdata", "artifacts")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// servedWHIP runs `actionstream serve` with WHIP and the web UI on a free port and no configured
// streams; it returns the base URL and the JSON-lines events file.
func servedWHIP(t *testing.T, token string) (base, eventsPath string, stderr *testutil.SyncBuffer) {
	t.Helper()
	model := testkit.TinyModel(t)
	dir := t.TempDir()
	eventsPath = filepath.Join(dir, "events.jsonl")
	cfgPath := filepath.Join(dir, "serve.yaml")
	cfg := fmt.Sprintf(`model: {path: %q, runtime: {threads: 1}}
events: {clip_scored: true}
sinks: {jsonl: {enabled: true, path: %q}}
http: {addr: "127.0.0.1:0"}
whip: {token: %q, disconnect_timeout: 2s}
shutdown_timeout: 20s
`, model, eventsPath, token)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &testutil.SyncBuffer{}
	done := make(chan int, 1)
	go func() { done <- runMain(ctx, []string{"serve", "--config", cfgPath}, io.Discard, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d:\n%s", code, stderr.String())
			}
		case <-time.After(40 * time.Second):
			t.Errorf("serve did not stop:\n%s", stderr.String())
		}
	})
	addrRE := regexp.MustCompile(`msg="http listening".*addr=(127\.0\.0\.1:\d+)`)
	testutil.WaitFor(t, 30*time.Second, func() bool {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			base = "http://" + m[1]
			return true
		}
		return false
	}, func() string { return "no listening line in:\n" + stderr.String() })
	testutil.WaitFor(t, 30*time.Second, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, testutil.Says("never ready"))
	return base, eventsPath, stderr
}

// countEvents counts the JSON-lines events of one stream and type.
func countEvents(t *testing.T, path, stream, typ string) int {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		e, err := events.ParseJSON([]byte(line))
		if err == nil && e.Data.Stream == stream && e.Type == typ {
			if err := events.Validate(e); err != nil {
				t.Fatalf("invalid event %s: %v", line, err)
			}
			n++
		}
	}
	return n
}

type apiStream struct {
	ID            string  `json:"id"`
	URL           string  `json:"url"`
	Status        string  `json:"status"`
	Codec         string  `json:"codec"`
	Width         int     `json:"width"`
	FPS           float64 `json:"fps"`
	FramesDecoded int64   `json:"frames_decoded"`
	Clips         uint64  `json:"clips"`
}

func apiStreams(t *testing.T, base string) []apiStream {
	resp, err := http.Get(base + "/api/streams")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var api struct {
		Streams []apiStream `json:"streams"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&api); err != nil {
		t.Fatal(err)
	}
	return api.Streams
}

// TestBrowserPublishAndDashboard drives a real headless Chromium: its fake camera is published
// from /publish through WHIP to `serve`; the stream is decoded, clips are scored and reach the
// JSON-lines sink and the page; the dashboard shows the stream (read from the DOM) and
// screenshots are kept under testdata/artifacts/.
func TestBrowserPublishAndDashboard(t *testing.T) {
	const token, id = "browser-token", "browser-cam"
	base, eventsPath, stderr := servedWHIP(t, token)
	br := startChromium(t)
	pub := br.page(t)
	// A phone-sized viewport: the publish page must work there.
	if err := pub.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}, nil); err != nil {
		t.Fatal(err)
	}
	pub.navigate(t, base+"/publish")
	pub.eval(t, fmt.Sprintf(`(() => {
		document.querySelector("#stream").value = %q;
		document.querySelector("#token").value = %q;
		document.querySelector("#codec").value = "video/VP8";
		document.querySelector("#publish").click();
		return true; })()`, id, token), nil)
	testutil.WaitFor(t, 30*time.Second, func() bool {
		var st string
		pub.eval(t, `document.body.dataset.state || ""`, &st)
		return st == "connected"
	}, func() string {
		var msg string
		pub.eval(t, `document.body.dataset.state + ": " + document.querySelector("#message").textContent`, &msg)
		return "the publish page never connected: " + msg + "\nserver log:\n" + stderr.String()
	})

	// Decoded and scored on the server; events in the JSON-lines sink.
	testutil.WaitFor(t, 60*time.Second, func() bool { return countEvents(t, eventsPath, id, events.TypeClipScored) >= 3 },
		func() string {
			return fmt.Sprintf("clips scored: %d; streams %+v", countEvents(t, eventsPath, id, events.TypeClipScored), apiStreams(t, base))
		})
	if n := countEvents(t, eventsPath, id, events.TypeStreamUp); n != 1 {
		t.Errorf("%d stream.up events", n)
	}
	var st apiStream
	for _, s := range apiStreams(t, base) {
		if s.ID == id {
			st = s
		}
	}
	if st.Status != "up" || st.FramesDecoded < 10 || st.Codec == "" || st.Width == 0 || !strings.HasPrefix(st.URL, "whip://") {
		t.Errorf("stream state %+v", st)
	}
	// The publish page shows what is recognised as it arrives.
	testutil.WaitFor(t, 20*time.Second, func() bool {
		var n int
		pub.eval(t, `Number(document.body.dataset.clips || 0) && document.querySelectorAll("#top .bar").length`, &n)
		return n > 0
	}, testutil.Says("no scored clips shown on the publish page"))
	art := artifactDir(t)
	var overflow bool
	pub.eval(t, `document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow)
	if overflow {
		t.Error("the publish page scrolls sideways on a phone-sized screen")
	}
	pub.screenshot(t, filepath.Join(art, "publish-phone.png"))

	// A second tab publishes H.264 (Chromium's software encoder) while the first sends VP8.
	pub2 := br.page(t)
	pub2.navigate(t, base+"/publish")
	var hasH264 bool
	pub2.eval(t, `RTCRtpSender.getCapabilities("video").codecs.some(c => c.mimeType === "video/H264")`, &hasH264)
	if !hasH264 {
		t.Fatal("this Chromium cannot encode H.264")
	}
	pub2.eval(t, fmt.Sprintf(`(() => {
		document.querySelector("#stream").value = "browser-h264";
		document.querySelector("#token").value = %q;
		document.querySelector("#codec").value = "video/H264";
		document.querySelector("#publish").click();
		return true; })()`, token), nil)
	testutil.WaitFor(t, 60*time.Second, func() bool { return countEvents(t, eventsPath, "browser-h264", events.TypeClipScored) >= 2 },
		func() string { return fmt.Sprintf("H.264 from the browser: streams %+v", apiStreams(t, base)) })
	for _, s := range apiStreams(t, base) {
		if want := map[string]string{id: "vp8", "browser-h264": "h264"}[s.ID]; s.Codec != want {
			t.Errorf("stream %s codec %q, want %q", s.ID, s.Codec, want)
		}
	}

	// The dashboard in another tab shows the stream with its thumbnail and the live timeline.
	dash := br.page(t)
	dash.navigate(t, base+"/")
	var card struct {
		Status   string `json:"status"`
		Facts    string `json:"facts"`
		ThumbW   int    `json:"thumbW"`
		Timeline int    `json:"timeline"`
		Live     string `json:"live"`
	}
	testutil.WaitFor(t, 20*time.Second, func() bool {
		dash.eval(t, fmt.Sprintf(`(() => {
			const c = document.querySelector('[data-stream=%q]');
			if (!c) return {};
			return {status: c.querySelector(".status").textContent, facts: c.querySelector(".facts").textContent,
				thumbW: c.querySelector(".thumb").naturalWidth, timeline: document.querySelectorAll("#timeline li").length,
				live: document.querySelector("#live").textContent};
		})()`, id), &card)
		var cards int
		dash.eval(t, `document.querySelectorAll("#streams .card").length`, &cards)
		return card.Status == "up" && card.ThumbW > 0 && card.Timeline > 0 && card.Live == "live" && cards == 2
	}, func() string { return fmt.Sprintf("dashboard card %+v", card) })
	if !strings.Contains(card.Facts, "fps") || !strings.Contains(card.Facts, "clips") {
		t.Errorf("card facts %q", card.Facts)
	}
	dash.screenshot(t, filepath.Join(art, "dashboard.png"))
	if err := dash.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // relayout
	overflow = false
	dash.eval(t, `document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow)
	if overflow {
		t.Error("the dashboard scrolls sideways on a phone-sized screen")
	}
	dash.screenshot(t, filepath.Join(art, "dashboard-phone.png"))

	// Stop on the publish page: DELETE ends the stream at once.
	pub.eval(t, `document.querySelector("#publish").click(), true`, nil)
	testutil.WaitFor(t, 15*time.Second, func() bool { return countEvents(t, eventsPath, id, events.TypeStreamDown) == 1 },
		testutil.Says("no stream.down after Stop"))
}
