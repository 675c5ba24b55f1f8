package rtsp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/rtsp"
	"github.com/actionstream/actionstream/internal/testkit/rtspcam"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

func TestNewValidates(t *testing.T) {
	for _, u := range []string{"http://cam/x", "rtsp://", "::bad"} {
		if _, err := rtsp.New(rtsp.Config{URL: u}); !errors.Is(err, ingest.ErrPermanent) {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	if _, err := rtsp.New(rtsp.Config{URL: "rtsp://cam/x", Transport: "sctp"}); !errors.Is(err, ingest.ErrPermanent) {
		t.Errorf("bad transport: %v", err)
	}
	s, err := rtsp.New(rtsp.Config{URL: "rtsp://admin:pa55word@cam:8554/x", Transport: "UDP"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.Name(), "pa55word") {
		t.Errorf("Name leaks the password: %s", s.Name())
	}
}

// The camera's server dies mid-stream and comes back: the supervisor reconnects and decoded
// frames resume, with timestamps that keep going forward. The password never reaches a log.
func TestRecoverAfterServerRestart(t *testing.T) {
	aus, sps, pps := rtspcam.H264AccessUnits(t)
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(testutil.FreePort(t)))
	cam := rtspcam.Start(t, addr, 0, aus, sps, pps)
	defer func() { cam.Close() }()

	logs := &testutil.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	url := "rtsp://viewer:topsecret@" + addr + "/cam"
	src, err := rtsp.New(rtsp.Config{Stream: "cam1", URL: url, StallTimeout: 2 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := clipper.New("cam1", clipper.Config{Frames: 4, SamplingRate: 3, Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	var clips atomic.Int64
	dec, err := decode.New(decode.Config{Stream: "cam1", Size: 32, Logger: logger}, cl, func(c *clipper.Clip) { clips.Add(1); c.Release() })
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()

	var (
		mu      sync.Mutex
		ups     int
		downs   []string
		lastPTS time.Duration
		backPTS int
	)
	sup := ingest.NewSupervisor(ingest.SupervisorConfig{Stream: "cam1", MinBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, Logger: logger,
		OnUp: func() { mu.Lock(); ups++; mu.Unlock() },
		OnDown: func(r string, err error) {
			mu.Lock()
			downs = append(downs, r)
			mu.Unlock()
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sup.Run(ctx, src, func(p ingest.Packet) error {
			mu.Lock()
			if p.PTS < lastPTS {
				backPTS++
				t.Logf("PTS went back: %v -> %v (codec %v)", lastPTS, p.PTS, p.Codec != nil)
			}
			lastPTS = p.PTS
			mu.Unlock()
			return dec.Decode(p)
		})
	}()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("supervisor ended with %v", err)
		}
	}()

	frames := func() int64 { return dec.Stats().FramesDecoded }
	testutil.WaitFor(t, 10*time.Second, func() bool { return frames() >= 20 }, testutil.Says("frames from the first server"))
	mu.Lock()
	ptsBefore := lastPTS
	mu.Unlock()

	cam.Close()
	testutil.WaitFor(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(downs) >= 1 }, testutil.Says("stream down"))
	stalledAt := frames()
	time.Sleep(500 * time.Millisecond) // a few refused reconnects
	cam = rtspcam.Start(t, addr, 0, aus, sps, pps)
	testutil.WaitFor(t, 15*time.Second, func() bool { return frames() >= stalledAt+20 }, testutil.Says("frames from the restarted server"))

	mu.Lock()
	defer mu.Unlock()
	if ups != 2 || sup.Restarts() < 1 {
		t.Errorf("ups %d, restarts %d; want 2 ups and at least one restart", ups, sup.Restarts())
	}
	if lastPTS <= ptsBefore+500*time.Millisecond || backPTS != 0 {
		t.Errorf("PTS after reconnect %v (before %v), %d backwards steps", lastPTS, ptsBefore, backPTS)
	}
	if clips.Load() == 0 {
		t.Error("no clips completed")
	}
	all := logs.String() + strings.Join(downs, "\n")
	if strings.Contains(all, "topsecret") {
		t.Errorf("password leaked into logs or reasons:\n%s", all)
	}
	if !strings.Contains(all, "viewer:xxxxx@") {
		t.Errorf("logs never name the redacted URL:\n%s", all)
	}
	t.Logf("down reasons: %q; stats %+v; restarts %d", downs, dec.Stats(), sup.Restarts())
	if t.Failed() {
		t.Logf("logs:\n%s", logs.String())
	}
}

// A server that keeps the session open but stops sending is detected within the timeout.
func TestStallDetected(t *testing.T) {
	aus, sps, pps := rtspcam.H264AccessUnits(t)
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(testutil.FreePort(t)))
	cam := rtspcam.Start(t, addr, 0, aus, sps, pps)
	defer cam.Close()
	src, err := rtsp.New(rtsp.Config{URL: "rtsp://" + addr + "/cam", StallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var paused time.Time
	n := 0
	err = src.Run(context.Background(), func(p ingest.Packet) error {
		n++
		if n == 15 {
			cam.Paused.Store(true)
			paused = time.Now()
		}
		return nil
	})
	// FFmpeg's H.264 parser holds the last access unit until the next one starts, so the final
	// packet may come out with the error; measure from when the server went quiet.
	silent := time.Since(paused)
	if !errors.Is(err, ingest.ErrStalled) {
		t.Fatalf("err = %v, want ErrStalled", err)
	}
	if silent < 900*time.Millisecond || silent > 3*time.Second {
		t.Errorf("stall noticed after %v of silence, want ~1s", silent)
	}
	if n < 15 {
		t.Errorf("%d packets before the stall", n)
	}
}

// A server that accepts the TCP connection and never answers is cut off by the open timeout.
func TestSilentServerOpenTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns []net.Conn
	var cmu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns = append(conns, c)
			cmu.Unlock()
		}
	}()
	defer func() {
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
	}()
	src, err := rtsp.New(rtsp.Config{URL: "rtsp://u:hidden@" + l.Addr().String() + "/x", StallTimeout: 500 * time.Millisecond, OpenTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = src.Run(context.Background(), func(ingest.Packet) error { return nil })
	el := time.Since(start)
	if !errors.Is(err, ingest.ErrStalled) || errors.Is(err, ingest.ErrPermanent) {
		t.Fatalf("err = %v, want a retryable ErrStalled", err)
	}
	if el < 900*time.Millisecond || el > 3*time.Second {
		t.Errorf("open gave up after %v, want ~1s", el)
	}
	if strings.Contains(err.Error(), "hidden") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestUDPTransport(t *testing.T) {
	aus, sps, pps := rtspcam.H264AccessUnits(t)
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(testutil.FreePort(t)))
	cam := rtspcam.Start(t, addr, rtspcam.FreeUDPPair(t), aus, sps, pps)
	defer cam.Close()
	src, err := rtsp.New(rtsp.Config{URL: "rtsp://" + addr + "/cam", Transport: "udp", StallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d, err := decode.New(decode.Config{Size: 32}, &allSampler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = src.Run(ctx, func(p ingest.Packet) error {
		if err := d.Decode(p); err != nil {
			return err
		}
		if d.Stats().FramesDecoded >= 20 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v (stats %+v)", err, d.Stats())
	}
}

type allSampler struct{}

func (allSampler) Want(time.Duration) bool            { return true }
func (allSampler) Add(*clipper.Frame) []*clipper.Clip { return nil }

// Under the supervisor a stalled camera is reported down, reconnected, and up again once it
// sends again.
func TestStallReconnects(t *testing.T) {
	aus, sps, pps := rtspcam.H264AccessUnits(t)
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(testutil.FreePort(t)))
	cam := rtspcam.Start(t, addr, 0, aus, sps, pps)
	defer cam.Close()
	src, err := rtsp.New(rtsp.Config{URL: "rtsp://" + addr + "/cam", StallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		ups     int
		reasons []string
		packets int
	)
	sup := ingest.NewSupervisor(ingest.SupervisorConfig{MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		OnUp:   func() { mu.Lock(); ups++; mu.Unlock() },
		OnDown: func(r string, _ error) { mu.Lock(); reasons = append(reasons, r); mu.Unlock() }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sup.Run(ctx, src, func(ingest.Packet) error {
			mu.Lock()
			packets++
			if packets == 10 {
				cam.Paused.Store(true)
			}
			mu.Unlock()
			return nil
		})
	}()
	defer func() {
		cancel()
		<-done
	}()
	get := func() (int, int, []string) {
		mu.Lock()
		defer mu.Unlock()
		return ups, packets, append([]string(nil), reasons...)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { _, _, r := get(); return len(r) == 1 }, testutil.Says("stall reported"))
	if _, _, r := get(); !strings.Contains(r[0], ingest.ErrStalled.Error()) {
		t.Fatalf("down reason %q, want a stall", r[0])
	}
	_, before, _ := get()
	cam.Paused.Store(false)
	testutil.WaitFor(t, 10*time.Second, func() bool { u, p, _ := get(); return u == 2 && p >= before+10 }, testutil.Says("up again with packets"))
}

// timedSampler records every frame time the decoder offers, for the B-frame test.
type timedSampler struct {
	*clipper.Clipper
	mu    sync.Mutex
	times []time.Duration
}

func (s *timedSampler) Want(pts time.Duration) bool {
	s.mu.Lock()
	s.times = append(s.times, pts)
	s.mu.Unlock()
	return s.Clipper.Want(pts)
}

// A camera sending H.264 with B-frames (decode order, RTP timestamp = presentation time) is
// decoded into frames that run forward 40 ms at a time: no backward step, nothing repaired, no
// clip broken.
func TestBFramesOverRTSP(t *testing.T) {
	aus, pts, sps, pps := rtspcam.H264BFrameAccessUnits(t)
	reordered := false
	for i := 1; i < len(pts); i++ {
		reordered = reordered || pts[i] < pts[i-1]
	}
	if !reordered {
		t.Fatal("fixture has no B-frames: presentation times are in decode order")
	}
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(testutil.FreePort(t)))
	cam := rtspcam.StartTimed(t, addr, 0, aus, pts, sps, pps)
	defer cam.Close()
	src, err := rtsp.New(rtsp.Config{Stream: "cam", URL: "rtsp://" + addr + "/cam", StallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := clipper.New("cam", clipper.Config{Frames: 4, SamplingRate: 3, Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	rec := &timedSampler{Clipper: cl}
	dec, err := decode.New(decode.Config{Stream: "cam", Size: 32}, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, dec.Decode) }()
	testutil.WaitFor(t, 15*time.Second, func() bool { return dec.Stats().FramesDecoded >= 75 }, testutil.Says("75 frames (past one loop of the camera)"))
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run ended with %v", err)
	}
	ds, cs := dec.Stats(), cl.Stats()
	if ds.BackwardSteps != 0 || ds.Repairs > 1 || cs.Discontinuities != 0 || cs.ClipsDropped != 0 || cs.Clips == 0 {
		t.Fatalf("decoder %+v, clipper %+v", ds, cs)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i := 1; i < len(rec.times); i++ {
		if step := rec.times[i] - rec.times[i-1]; step < 39*time.Millisecond || step > 41*time.Millisecond {
			t.Fatalf("frame %d: step %v (%v after %v)", i, step, rec.times[i], rec.times[i-1])
		}
	}
}
