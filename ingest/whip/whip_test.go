package whip_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/whip"
	"github.com/actionstream/actionstream/ingest/whip/whipclient"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/sink/sinks"
)

const token = "s3cret-token"

func quietLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// liveServer is a real pipeline (TinyModel, JSON-lines sink) with the WHIP endpoint in front.
type liveServer struct {
	url    string
	p      *pipeline.Pipeline
	whip   *whip.Server
	events string // the JSON-lines file
}

func startLive(t *testing.T, disconnect time.Duration, tweak ...func(*configs.Config)) *liveServer {
	t.Helper()
	return startLiveWith(t, whip.Config{Token: token, DisconnectTimeout: confkit.Duration(disconnect)}, tweak...)
}

func startLiveWith(t *testing.T, wc whip.Config, tweak ...func(*configs.Config)) *liveServer {
	t.Helper()
	dir := t.TempDir()
	cfg := configs.Default()
	cfg.Model.Path = testkit.TinyModel(t)
	cfg.Model.Runtime.Threads = 1
	cfg.Events.ClipScored = true
	cfg.HTTP.Addr = ""
	cfg.Sinks.JSONL = sinks.JSONL{Enabled: true, Path: filepath.Join(dir, "events.jsonl")}
	cfg.ShutdownTimeout = configs.Duration(20 * time.Second)
	cfg.StateDir = filepath.Join(dir, "state")
	for _, f := range tweak {
		f(&cfg)
	}
	log := quietLogger(t)
	p, err := pipeline.New(pipeline.Options{Config: cfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	wc.Logger = log
	ws, err := whip.New(wc, p.AttachWHIP)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(ws.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
		ws.Close()
		hs.Close()
	})
	testutil.WaitFor(t, 30*time.Second, p.Ready, testutil.Says("pipeline never ready"))
	return &liveServer{url: hs.URL, p: p, whip: ws, events: cfg.Sinks.JSONL.Path}
}

// lines reads the JSON-lines sink and parses each event.
func (s *liveServer) lines(t *testing.T) []events.Event {
	b, err := os.ReadFile(s.events)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []events.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		e, err := events.ParseJSON(sc.Bytes())
		if err != nil {
			continue // a line being written
		}
		out = append(out, e)
	}
	return out
}

func (s *liveServer) count(t *testing.T, stream, typ string) int {
	n := 0
	for _, e := range s.lines(t) {
		if e.Data.Stream == stream && e.Type == typ {
			n++
		}
	}
	return n
}

// fixtures encodes the moving test pattern as Annex-B H.264 and as VP8 in IVF with ffmpeg.
func fixtures(t *testing.T) (h264, vp8 [][]byte) {
	dir := t.TempDir()
	hp := testkit.MakeVideo(t, dir, testkit.Video{FPS: "30", Seconds: 2, Size: "128x96", Ext: "h264"})
	vp := testkit.MakeVideo(t, dir, testkit.Video{FPS: "30", Seconds: 2, Size: "128x96", Codec: "libvpx", Ext: "ivf",
		ExtraOut: []string{"-g", "30", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"}})
	var err error
	if h264, err = whipclient.ReadH264(hp); err != nil {
		t.Fatal(err)
	}
	if vp8, err = whipclient.ReadIVF(vp); err != nil {
		t.Fatal(err)
	}
	if len(h264) != 60 || len(vp8) != 60 {
		t.Fatalf("fixtures: %d H.264 access units, %d VP8 frames; want 60 each", len(h264), len(vp8))
	}
	return h264, vp8
}

// publish starts a publisher sending frames in a loop until the test ends or stop is called.
func publish(t *testing.T, ctx context.Context, opts whipclient.Options, frames [][]byte) (*whipclient.Publisher, func()) {
	t.Helper()
	pub, err := whipclient.Publish(ctx, opts)
	if err != nil {
		t.Fatalf("publish %s: %v", opts.URL, err)
	}
	sendCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := pub.WaitConnected(sendCtx); err != nil {
			return
		}
		pub.Send(sendCtx, frames, 30, true, nil)
	}()
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(func() { stop(); pub.Close() })
	return pub, stop
}

// TestPublishH264AndVP8 sends a generated H.264 stream and a VP8 stream from pion publishers to a
// running pipeline: both are decoded and scored (clip.scored lines in the JSON-lines sink), a
// second publisher of a live id gets 409, DELETE ends one stream, and the other publisher
// vanishing without a word (its socket closed) is noticed within the disconnect timeout:
// stream.down is emitted and the id can be published again.
func TestPublishH264AndVP8(t *testing.T) {
	h264, vp8 := fixtures(t)
	const disconnect = 2 * time.Second
	srv := startLive(t, disconnect)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()

	// The H.264 publisher also offers audio, as OBS does: accepted, and its packets dropped.
	hPub, hStop := publish(t, ctx, whipclient.Options{URL: srv.url + "/whip/cam-h264", Token: token, Codec: "h264", Audio: true}, h264)
	if !strings.Contains(hPub.Answer, "m=audio 9 ") || !strings.Contains(hPub.Answer, "opus/48000") {
		t.Fatalf("audio section not accepted:\n%s", hPub.Answer)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, vStop := publish(t, ctx, whipclient.Options{URL: srv.url + "/whip/cam-vp8", Token: token, Codec: "vp8", Conn: conn}, vp8)

	testutil.WaitFor(t, 40*time.Second, func() bool {
		return srv.count(t, "cam-h264", events.TypeClipScored) >= 3 && srv.count(t, "cam-vp8", events.TypeClipScored) >= 3
	}, func() string {
		return fmt.Sprintf("clips scored: h264 %d, vp8 %d; streams %+v", srv.count(t, "cam-h264", events.TypeClipScored),
			srv.count(t, "cam-vp8", events.TypeClipScored), srv.p.Streams())
	})
	codecs := map[string]string{}
	for _, st := range srv.p.Streams() {
		codecs[st.ID] = st.Codec
		if st.Status != pipeline.StatusUp || st.DecodeErrors != 0 || st.Width != 128 || st.Height != 96 {
			t.Errorf("stream %s: %+v", st.ID, st)
		}
	}
	if codecs["cam-h264"] != "h264" || codecs["cam-vp8"] != "vp8" {
		t.Errorf("codecs %v", codecs)
	}
	for _, id := range []string{"cam-h264", "cam-vp8"} {
		if srv.count(t, id, events.TypeStreamUp) != 1 {
			t.Errorf("%s: %d stream.up events", id, srv.count(t, id, events.TypeStreamUp))
		}
		for _, e := range srv.lines(t) {
			if e.Data.Stream == id && e.Type == events.TypeClipScored {
				if err := events.Validate(e); err != nil || len(e.Data.TopK) == 0 || e.Data.Span == nil {
					t.Fatalf("%s: bad clip.scored %+v: %v", id, e, err)
				}
			}
		}
	}
	if hPub.KeyframeRequests() == 0 {
		t.Error("the server never asked for a keyframe (PLI at start)")
	}

	// A second publisher for a live id: 409, and nothing is left behind.
	_, err = whipclient.Publish(ctx, whipclient.Options{URL: srv.url + "/whip/cam-h264", Token: token, Codec: "h264"})
	var he *whipclient.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusConflict {
		t.Fatalf("second publisher: %v, want 409", err)
	}

	// DELETE ends the H.264 session; its stream goes down with a stream.down event.
	hStop()
	if err := hPub.Delete(ctx); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return srv.count(t, "cam-h264", events.TypeStreamDown) == 1 },
		testutil.Says("no stream.down after DELETE"))
	for _, e := range srv.lines(t) {
		if e.Data.Stream == "cam-h264" && e.Type == events.TypeStreamDown && !strings.Contains(e.Data.Reason, "DELETE") {
			t.Errorf("stream.down after DELETE says %q", e.Data.Reason)
		}
	}

	// The VP8 publisher vanishes: its socket closes, no DELETE, no DTLS close.
	vStop()
	conn.Close()
	gone := time.Now()
	testutil.WaitFor(t, disconnect+8*time.Second, func() bool { return srv.count(t, "cam-vp8", events.TypeStreamDown) == 1 },
		testutil.Says("no stream.down after the publisher vanished"))
	t.Logf("vanished publisher noticed after %s (disconnect timeout %s)", time.Since(gone).Round(time.Millisecond), disconnect)
	testutil.WaitFor(t, 10*time.Second, func() bool { return srv.whip.Stats().Sessions == 0 && len(srv.p.Streams()) == 0 },
		func() string {
			return fmt.Sprintf("not cleaned up: %d sessions, streams %+v", srv.whip.Stats().Sessions, srv.p.Streams())
		})

	// The id is free again.
	again, err := whipclient.Publish(ctx, whipclient.Options{URL: srv.url + "/whip/cam-vp8", Token: token, Codec: "vp8"})
	if err != nil {
		t.Fatalf("republishing a freed id: %v", err)
	}
	again.Close()
}

// fakeAttach accepts sessions without a pipeline, remembering their sources.
type fakeAttach struct {
	mu   sync.Mutex
	busy bool
	srcs []ingest.Source
}

func (f *fakeAttach) attach(id, url string, src ingest.Source) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.busy {
		return fmt.Errorf("%w: %s", whip.ErrStreamBusy, id)
	}
	f.srcs = append(f.srcs, src)
	return nil
}

// offer builds a real WebRTC offer (pion) without sending it.
func offer(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got string
	h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer h.Close()
	_, err := whipclient.Publish(ctx, whipclient.Options{URL: h.URL, Codec: "vp8"})
	var he *whipclient.HTTPError
	if !errors.As(err, &he) || got == "" {
		t.Fatalf("building an offer: %v", err)
	}
	return got
}

// TestProtocol checks the HTTP side of RFC 9725 without a pipeline: authentication before
// anything is allocated, status codes and reasons, CORS, the session URL and the limits.
func TestProtocol(t *testing.T) {
	fa := &fakeAttach{}
	ws, err := whip.New(whip.Config{Token: token, MaxSessions: 1, MaxSDPBytes: 8 << 10, Logger: quietLogger(t)}, fa.attach)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	hs := httptest.NewServer(ws.Handler())
	defer hs.Close()
	good := offer(t)
	ctx := context.Background()
	c := hs.Client()
	do := func(method, path, tok, ctype, body string) (*http.Response, string) {
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	expect := func(name string, resp *http.Response, body string, code int, reason string) {
		t.Helper()
		if resp.StatusCode != code || !strings.Contains(body, reason) {
			t.Errorf("%s: %d %q, want %d with %q", name, resp.StatusCode, body, code, reason)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: no CORS header", name)
		}
	}
	resp, body := do("POST", "/whip/cam", "", "application/sdp", good)
	expect("no token", resp, body, 401, "bearer token")
	if resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	resp, body = do("POST", "/whip/cam", "wrong", "application/sdp", good)
	expect("wrong token", resp, body, 401, "bearer token")
	if n := ws.Stats().Sessions; n != 0 || len(fa.srcs) != 0 {
		t.Fatalf("refused offers allocated %d sessions", n)
	}
	resp, body = do("POST", "/whip/cam", token, "application/sdp", "v=0\r\nthis is not SDP\r\n")
	expect("malformed", resp, body, 400, "malformed SDP")
	resp, body = do("POST", "/whip/cam", token, "application/sdp", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	expect("no video", resp, body, 400, "no video")
	resp, body = do("POST", "/whip/cam", token, "application/sdp", strings.ReplaceAll(good, "VP8/90000", "AV1X/90000"))
	expect("codec", resp, body, 400, "no supported video codec")
	resp, body = do("POST", "/whip/cam", token, "text/plain", good)
	expect("content type", resp, body, 415, "application/sdp")
	resp, body = do("POST", "/whip/cam", token, "application/sdp", good+strings.Repeat("a=x-pad:0\r\n", 1000))
	expect("too large", resp, body, 413, "larger than")
	resp, body = do("POST", "/whip/bad%20id", token, "application/sdp", good)
	expect("stream id", resp, body, 400, "invalid stream id")
	resp, body = do("GET", "/whip/cam", token, "", "")
	expect("GET", resp, body, 405, "")
	resp, _ = do("OPTIONS", "/whip/cam", "", "", "")
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		resp.Header.Get("Accept-Post") != "application/sdp" {
		t.Errorf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
	if n := ws.Stats().Sessions; n != 0 {
		t.Fatalf("refused offers left %d sessions", n)
	}

	// A good offer: 201, an SDP answer and a session URL.
	resp, body = do("POST", "/whip/cam", token, "application/sdp", good)
	if resp.StatusCode != 201 || resp.Header.Get("Content-Type") != "application/sdp" || !strings.HasPrefix(body, "v=0") {
		t.Fatalf("good offer: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/whip/cam/") || !strings.Contains(body, "a=candidate") || !strings.Contains(body, "a=recvonly") {
		t.Fatalf("Location %q, answer %q", loc, body)
	}
	// The limit of one session: the next offer gets 503.
	resp, body = do("POST", "/whip/other", token, "application/sdp", good)
	expect("max sessions", resp, body, 503, "limit")
	// A second publisher for the same id: 409 (the endpoint knows its own sessions).
	resp, body = do("POST", "/whip/cam", token, "application/sdp", good)
	expect("busy", resp, body, 409, "already has a publisher")

	resp, body = do("PATCH", loc, token, "application/trickle-ice-sdpfrag", "a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n")
	expect("PATCH", resp, body, 405, "trickle")
	if resp.Header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
	resp, body = do("DELETE", loc, "", "", "")
	expect("DELETE without token", resp, body, 401, "bearer")
	resp, body = do("DELETE", "/whip/cam/0123456789abcdef", token, "", "")
	expect("DELETE unknown", resp, body, 404, "no such")
	resp, body = do("DELETE", loc, token, "", "")
	expect("DELETE", resp, body, 200, "")
	resp, body = do("DELETE", loc, token, "", "")
	expect("DELETE again", resp, body, 404, "no such")
	if n := ws.Stats().Sessions; n != 0 {
		t.Fatalf("after DELETE: %d sessions", n)
	}
	// The session's Source saw the end: Run returns at once, and never runs twice. It never
	// delivered video, so it ends with ErrNoVideo (no stream.down for a stream never up).
	src := fa.srcs[0]
	if err := src.Run(ctx, func(ingest.Packet) error { return nil }); !errors.Is(err, whip.ErrNoVideo) || !strings.Contains(err.Error(), "DELETE") {
		t.Fatalf("Run after DELETE: %v", err)
	}
	if err := src.Run(ctx, func(ingest.Packet) error { return nil }); !errors.Is(err, ingest.ErrPermanent) {
		t.Fatalf("second Run: %v", err)
	}

	// The pipeline says the id is live (e.g. a configured camera): 409, nothing left behind.
	fa.busy = true
	resp, body = do("POST", "/whip/cam", token, "application/sdp", good)
	expect("pipeline busy", resp, body, 409, "live")
	if n := ws.Stats().Sessions; n != 0 {
		t.Fatalf("after a refused attach: %d sessions", n)
	}
	fa.busy = false

	// A Source whose publisher never sends video ends with ErrNoVideo after TrackTimeout.
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	resp, body = do("POST", "/whip/cam", token, "application/sdp", good)
	expect("closed", resp, body, 503, "shutting down")
}

// TestDisabledAndOpen: no token means the endpoint refuses everything unless it is opened.
func TestDisabledAndOpen(t *testing.T) {
	fa := &fakeAttach{}
	good := offer(t)
	for _, open := range []bool{false, true} {
		ws, err := whip.New(whip.Config{Open: open, Logger: quietLogger(t)}, fa.attach)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(ws.Handler())
		resp, body, err := whipclient.PostOffer(context.Background(), hs.Client(), hs.URL+"/whip/cam", "", "application/sdp", []byte(good))
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]int{false: 403, true: 201}[open]
		if resp.StatusCode != want {
			t.Errorf("open=%v: %d %s, want %d", open, resp.StatusCode, body, want)
		}
		if ws.Enabled() != open {
			t.Errorf("Enabled() = %v", ws.Enabled())
		}
		ws.Close()
		hs.Close()
	}
}

// TestNoVideoTimeout: a publisher that negotiates but never sends video is dropped after
// TrackTimeout, with an error the supervisor will not retry.
func TestNoVideoTimeout(t *testing.T) {
	fa := &fakeAttach{}
	ws, err := whip.New(whip.Config{Open: true, TrackTimeout: confkit.Duration(300 * time.Millisecond), Logger: quietLogger(t)}, fa.attach)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	hs := httptest.NewServer(ws.Handler())
	defer hs.Close()
	resp, _, err := whipclient.PostOffer(context.Background(), hs.Client(), hs.URL+"/whip/cam", "", "application/sdp", []byte(offer(t)))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("offer: %v %v", resp, err)
	}
	start := time.Now()
	err = fa.srcs[0].Run(context.Background(), func(ingest.Packet) error { return nil })
	if !errors.Is(err, whip.ErrNoVideo) || !errors.Is(err, ingest.ErrPermanent) || time.Since(start) > 5*time.Second {
		t.Fatalf("Run: %v after %s", err, time.Since(start))
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return ws.Stats().Sessions == 0 }, testutil.Says("session not cleaned up"))
}

// lossyConn drops every outgoing packet while drop is set (a network blackout), and every
// nth one while every is set.
// publishLossy publishes the H.264 fixture as stream over a connection whose loss the test
// controls, and returns once clips are being scored.
func publishLossy(t *testing.T, ctx context.Context, stream string) (*liveServer, *whipclient.Publisher, *lossyConn) {
	t.Helper()
	h264, _ := fixtures(t)
	srv := startLive(t, 5*time.Second)
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn := &lossyConn{PacketConn: udp}
	t.Cleanup(func() { conn.Close() })
	pub, _ := publish(t, ctx, whipclient.Options{URL: srv.url + "/whip/" + stream, Token: token, Codec: "h264", Conn: conn}, h264)
	testutil.WaitFor(t, 30*time.Second, func() bool { return srv.count(t, stream, events.TypeClipScored) >= 2 },
		testutil.Says("no clips before the loss"))
	return srv, pub, conn
}

type lossyConn struct {
	net.PacketConn
	drop    atomic.Bool
	every   atomic.Int64
	n       atomic.Int64
	dropped atomic.Int64
}

func (c *lossyConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n := c.n.Add(1)
	if c.drop.Load() || (c.every.Load() > 0 && n%c.every.Load() == 0) {
		c.dropped.Add(1)
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

// TestLossRequestsKeyframe: after a burst of loss longer than the reorder window, the server
// stops decoding, asks for a keyframe (PLI) until one arrives, and the stream carries on.
func TestLossRequestsKeyframe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, pub, conn := publishLossy(t, ctx, "lossy")
	before := pub.KeyframeRequests()
	conn.drop.Store(true)
	time.Sleep(600 * time.Millisecond)
	conn.drop.Store(false)
	clips := srv.count(t, "lossy", events.TypeClipScored)
	testutil.WaitFor(t, 10*time.Second, func() bool { return pub.KeyframeRequests() > before },
		func() string { return fmt.Sprintf("no keyframe request after the loss (%d before)", before) })
	testutil.WaitFor(t, 20*time.Second, func() bool { return srv.count(t, "lossy", events.TypeClipScored) >= clips+2 },
		testutil.Says("clips did not resume after the loss"))
	for _, st := range srv.p.Streams() {
		if st.ID == "lossy" && (st.Status != pipeline.StatusUp || st.DecodeErrors != 0) {
			t.Errorf("after the loss: %+v (frames after a loss must wait for a keyframe, not reach the decoder)", st)
		}
	}
	if n := srv.count(t, "lossy", events.TypeStreamDown); n != 0 {
		t.Errorf("a short blackout took the stream down (%d stream.down)", n)
	}
}

// TestOverResolutionCapEndsSession: a stream above decode's resolution cap fails permanently;
// its session is closed and the stream removed.
func TestOverResolutionCapEndsSession(t *testing.T) {
	_, vp8 := fixtures(t)
	srv := startLive(t, 5*time.Second, func(c *configs.Config) { c.Decode.MaxWidth, c.Decode.MaxHeight = 64, 64 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publish(t, ctx, whipclient.Options{URL: srv.url + "/whip/big", Token: token, Codec: "vp8"}, vp8)
	testutil.WaitFor(t, 20*time.Second, func() bool { return srv.whip.Stats().Sessions == 0 && len(srv.p.Streams()) == 0 },
		func() string {
			return fmt.Sprintf("over-cap stream still there: %d sessions, %+v", srv.whip.Stats().Sessions, srv.p.Streams())
		})
	if n := srv.count(t, "big", events.TypeClipScored); n != 0 {
		t.Errorf("%d clips scored from an over-cap stream", n)
	}
}

// TestVP9OverICETCP publishes VP9 from a publisher that may only use TCP: ICE-TCP (the server's
// passive candidates on whip.ICE.TCPAddr) carries the media, and the clips are scored.
func TestVP9OverICETCP(t *testing.T) {
	vp := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "30", Seconds: 2, Size: "128x96", Codec: "libvpx-vp9", Ext: "ivf",
		ExtraOut: []string{"-g", "30", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"}})
	vp9, err := whipclient.ReadIVF(vp)
	if err != nil {
		t.Fatal(err)
	}
	srv := startLiveWith(t, whip.Config{Token: token, ICE: whip.ICE{TCPAddr: "127.0.0.1:0"}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub, _ := publish(t, ctx, whipclient.Options{URL: srv.url + "/whip/vp9-tcp", Token: token, Codec: "vp9", TCP: true}, vp9)
	if !strings.Contains(pub.Answer, "tcptype passive") || !strings.Contains(pub.Answer, "VP9/90000") {
		t.Fatalf("answer without a passive TCP candidate or VP9:\n%s", pub.Answer)
	}
	testutil.WaitFor(t, 40*time.Second, func() bool { return srv.count(t, "vp9-tcp", events.TypeClipScored) >= 3 },
		func() string { return fmt.Sprintf("streams %+v", srv.p.Streams()) })
	for _, st := range srv.p.Streams() {
		if st.Codec != "vp9" || st.DecodeErrors != 0 {
			t.Errorf("stream %+v", st)
		}
	}
}

// TestICEAddressConfig: the answer's candidates use the configured public IP (1:1 NAT) and
// ports from the configured UDP range.
func TestICEAddressConfig(t *testing.T) {
	fa := &fakeAttach{}
	ws, err := whip.New(whip.Config{Open: true, Logger: quietLogger(t),
		ICE: whip.ICE{PublicIPs: []string{"203.0.113.9"}, UDPPortMin: 41200, UDPPortMax: 41299}}, fa.attach)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	hs := httptest.NewServer(ws.Handler())
	defer hs.Close()
	resp, body, err := whipclient.PostOffer(context.Background(), hs.Client(), hs.URL+"/whip/nat", "", "application/sdp", []byte(offer(t)))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("offer: %v %v", resp, err)
	}
	var n, public int
	for _, line := range strings.Split(string(body), "\r\n") {
		if !strings.HasPrefix(line, "a=candidate:") {
			continue
		}
		n++
		f := strings.Fields(line) // a=candidate:F C udp PRIO ADDR PORT typ host
		var port int
		fmt.Sscan(f[5], &port)
		// IPv4 host candidates are replaced by the public IPv4 address; IPv6 ones stay.
		if (f[4] != "203.0.113.9" && !strings.Contains(f[4], ":")) || port < 41200 || port > 41299 {
			t.Errorf("candidate %q", line)
		}
		if f[4] == "203.0.113.9" {
			public++
		}
	}
	if n == 0 || public == 0 {
		t.Fatalf("no candidates:\n%s", body)
	}
}

// TestICEServers: with a STUN and a TURN server configured (a pion TURN server on loopback), the
// server gathers a relayed candidate through TURN and tells the publisher about both servers in
// Link headers (RFC 9725 section 4.6).
func TestICEServers(t *testing.T) {
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const realm, user, pass = "actionstream", "pub", "secret"
	key := turn.GenerateAuthKey(user, realm, pass)
	ts, err := turn.NewServer(turn.ServerConfig{Realm: realm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) { return ra.Username, key, ra.Username == user },
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: udp,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	addr := udp.LocalAddr().String()
	fa := &fakeAttach{}
	ws, err := whip.New(whip.Config{Open: true, Logger: quietLogger(t), ICE: whip.ICE{Servers: []whip.ICEServer{
		{URLs: []string{"stun:" + addr}},
		{URLs: []string{"turn:" + addr + "?transport=udp"}, Username: user, Credential: pass},
	}}}, fa.attach)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	hs := httptest.NewServer(ws.Handler())
	defer hs.Close()
	start := time.Now()
	resp, body, err := whipclient.PostOffer(context.Background(), hs.Client(), hs.URL+"/whip/relay", "", "application/sdp", []byte(offer(t)))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("offer: %v %v", resp, err)
	}
	if !strings.Contains(string(body), "typ relay") {
		t.Errorf("no relayed candidate from the TURN server:\n%s", body)
	}
	links := resp.Header.Values("Link")
	if len(links) != 2 || links[0] != "<stun:"+addr+`>; rel="ice-server"` ||
		!strings.Contains(links[1], `rel="ice-server"; username="pub"; credential="secret"; credential-type="password"`) {
		t.Errorf("Link headers %q", links)
	}
	t.Logf("answered in %s", time.Since(start).Round(time.Millisecond))
}

// TestNACKRecoversScatteredLoss: with one packet in 8 lost for three seconds, the server's NACKs
// get them resent (pion's NACK generator here, responder at the publisher) in time for the
// sample builder, so no frame is lost: no keyframe request, no decode error, clips continue.
func TestNACKRecoversScatteredLoss(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, pub, conn := publishLossy(t, ctx, "nack")
	before := pub.KeyframeRequests()
	conn.every.Store(8)
	time.Sleep(3 * time.Second)
	conn.every.Store(0)
	clips := srv.count(t, "nack", events.TypeClipScored)
	testutil.WaitFor(t, 20*time.Second, func() bool { return srv.count(t, "nack", events.TypeClipScored) >= clips+2 },
		testutil.Says("clips did not continue"))
	if conn.dropped.Load() < 5 {
		t.Fatalf("only %d packets dropped", conn.dropped.Load())
	}
	if after := pub.KeyframeRequests(); after != before {
		t.Errorf("%d packets dropped and %d keyframe requests: NACK did not recover them", conn.dropped.Load(), after-before)
	}
	for _, st := range srv.p.Streams() {
		if st.ID == "nack" && st.DecodeErrors != 0 {
			t.Errorf("decode errors after recovered loss: %+v", st)
		}
	}
	t.Logf("%d packets dropped, all recovered", conn.dropped.Load())
}
