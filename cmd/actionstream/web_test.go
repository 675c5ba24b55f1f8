package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// browser is a headless Chromium with fake camera devices, driven through chromedp; new tabs
// are made from its first one.
type browser struct {
	ctx context.Context
}

// page is one tab.
type page struct {
	ctx context.Context
}

// actionTimeout bounds one DevTools action, so a hung page fails the test instead of hanging it.
const actionTimeout = 30 * time.Second

func startChromium(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (scripts/setup installs Debian's chromium)")
	}
	var output testutil.SyncBuffer
	allocCtx, stopAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()), chromedp.CombinedOutput(&output))
	ctx, closeBrowser := chromedp.NewContext(allocCtx)
	// stopAlloc waits for the process, so the user-data-dir is free before TempDir removes it.
	t.Cleanup(func() { closeBrowser(); stopAlloc() })
	// No timeout here: the context of the first Do bounds the browser's life.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v\n%s", err, output.String())
	}
	return &browser{ctx: ctx}
}

// page opens a new tab.
func (b *browser) page(t *testing.T) *page {
	t.Helper()
	ctx, closeTab := chromedp.NewContext(b.ctx)
	t.Cleanup(closeTab)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	return &page{ctx: ctx}
}

// do runs DevTools actions in the tab.
func (p *page) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval runs a JavaScript expression in the page and decodes its (JSON-able) value into out.
func (p *page) eval(t *testing.T, expr string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %v (%s)", expr, err, raw)
		}
	}
}

func (p *page) navigate(t *testing.T, url string) {
	t.Helper()
	p.do(t, chromedp.Navigate(url))
	var state string
	p.eval(t, `location.href + " " + document.readyState`, &state)
	if state != url+" complete" {
		t.Fatalf("page did not load %s: %s", url, state)
	}
}

// signIn opens path, which sends the browser to the sign-in page; a wrong token is refused
// there, the right one sets the session cookie (out of the page's reach) and comes back.
func (p *page) signIn(t *testing.T, base, path string) {
	t.Helper()
	p.do(t, chromedp.Navigate(base+path))
	var at string
	p.eval(t, `location.pathname + location.search`, &at)
	if want := "/signin?next=" + url.QueryEscape(path); at != want {
		t.Fatalf("%s without a session: at %s, want %s", path, at, want)
	}
	submit := func(token string) {
		p.eval(t, fmt.Sprintf(`(() => { document.querySelector("#token").value = %q;
			document.querySelector("#signin").click(); return true; })()`, token), nil)
		p.do(t, chromedp.Sleep(200*time.Millisecond), chromedp.WaitReady("body"))
	}
	submit("wrong-token")
	p.screenshot(t, filepath.Join(artifactDir(t), "signin-refused.png"))
	var failed string
	p.eval(t, `(document.querySelector("#signin-error") || {}).textContent || ""`, &failed)
	if failed != "Wrong token." {
		t.Fatalf("a wrong token: sign-in page says %q", failed)
	}
	submit(dashToken)
	testutil.WaitFor(t, 10*time.Second, func() bool {
		p.eval(t, `location.pathname + " " + document.readyState`, &at)
		return at == path+" complete"
	}, func() string { return "after signing in: at " + at })
	var cookies string
	p.eval(t, `document.cookie`, &cookies)
	if strings.Contains(cookies, "actionstream_session") {
		t.Errorf("the session cookie is readable by scripts: %q", cookies)
	}
}

// phoneSized makes the viewport a phone's, in portrait.
func (p *page) phoneSized(t *testing.T) {
	t.Helper()
	p.do(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait))
}

func (p *page) screenshot(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil || len(b) < 1000 {
		t.Fatalf("screenshot: %d bytes, %v", len(b), err)
	}
	if _, err := png.DecodeConfig(bytes.NewReader(b)); err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
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

// dashToken is web.token of servedWHIP: the dashboard and API credential, not the WHIP one.
const dashToken = "dashboard-token"

// servedWHIP runs `actionstream serve` with WHIP and the web UI on a free port and no configured
// streams; it returns the base URL and the JSON-lines events file. The event thresholds are
// low, so the tiny model's top labels become current actions.
func servedWHIP(t *testing.T, token string) (base, eventsPath string, stderr *testutil.SyncBuffer) {
	t.Helper()
	model := testkit.TinyModel(t)
	dir := t.TempDir()
	eventsPath = filepath.Join(dir, "events.jsonl")
	cfgPath := filepath.Join(dir, "serve.yaml")
	cfg := fmt.Sprintf(`model: {path: %q, runtime: {threads: 1}}
events: {clip_scored: true, on: 0.001, off: 0.0005, min_duration: 0s}
sinks: {jsonl: {enabled: true, path: %q}}
http: {addr: "127.0.0.1:0"}
whip: {token: %q, disconnect_timeout: 2s}
web: {token: %q}
state_dir: %q
shutdown_timeout: 20s
`, model, eventsPath, token, dashToken, filepath.Join(dir, "state"))
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
	Active        []struct {
		Label string  `json:"label"`
		Score float64 `json:"score"`
	} `json:"active"`
}

// dashGet is http.Get with the dashboard credential.
func dashGet(url string) (*http.Response, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+dashToken)
	return http.DefaultClient.Do(req)
}

func apiStreams(t *testing.T, base string) []apiStream {
	resp, err := dashGet(base + "/api/streams")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/api/streams: %s", resp.Status)
	}
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
	pub.phoneSized(t)
	pub.signIn(t, base, "/publish")
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
			const c = document.querySelector('.card[data-stream=%q]');
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
	// The current actions read "<label> <score>", as /api/streams has them.
	chipRE := regexp.MustCompile(`^(\S+) ([01]\.\d\d)$`)
	var chips []string
	testutil.WaitFor(t, 20*time.Second, func() bool {
		dash.eval(t, fmt.Sprintf(`[...document.querySelectorAll('.card[data-stream=%q] .chips .chip')].map(e => e.textContent)`, id), &chips)
		return len(chips) > 0
	}, func() string { return fmt.Sprintf("no current action on the dashboard; API: %+v", apiStreams(t, base)) })
	api := map[string]float64{}
	for _, s := range apiStreams(t, base) {
		if s.ID == id {
			for _, a := range s.Active {
				api[a.Label] = a.Score
			}
		}
	}
	for _, chip := range chips {
		m := chipRE.FindStringSubmatch(chip)
		if m == nil {
			t.Errorf("current action chip %q is not \"<label> <score>\"", chip)
			continue
		}
		score, ok := api[m[1]]
		var shown float64
		fmt.Sscan(m[2], &shown)
		if !ok || shown < score-0.15 || shown > score+0.15 {
			t.Errorf("chip %q: /api/streams has %s at %v (present %v)", chip, m[1], score, ok)
		}
	}
	t.Logf("current actions on the dashboard: %q", chips)
	dash.screenshot(t, filepath.Join(art, "dashboard.png"))
	dash.phoneSized(t)
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
