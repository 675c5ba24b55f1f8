// Package rtspcam is an in-process RTSP camera for tests: a gortsplib server that loops an
// ffmpeg-encoded H.264 clip in real time and can be stopped, restarted or paused (stalled).
package rtspcam

import (
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/pkg/codecs/h264"
)

// H264AccessUnits encodes a short testsrc clip with ffmpeg (no B-frames, so RTP time = decode
// order; an IDR every second) and splits the Annex-B stream into access units at the AUDs.
func H264AccessUnits(t testing.TB) (aus [][][]byte, sps, pps []byte) {
	t.Helper()
	aus, _, sps, pps = encode(t, "-bf", "0")
	return aus, sps, pps
}

// H264BFrameAccessUnits is H264AccessUnits with two B-frames per group (a B-pyramid): the
// access units are in decode order and pts[i] is unit i's presentation time, what a camera
// puts in the RTP timestamp.
func H264BFrameAccessUnits(t testing.TB) (aus [][][]byte, pts []time.Duration, sps, pps []byte) {
	t.Helper()
	return encode(t, "-bf", "2", "-x264-params", "b-pyramid=normal:b-adapt=0")
}

func encode(t testing.TB, x264 ...string) (aus [][][]byte, pts []time.Duration, sps, pps []byte) {
	t.Helper()
	dir := t.TempDir()
	mp4, path := filepath.Join(dir, "cam.mp4"), filepath.Join(dir, "cam.h264")
	run := func(name string, args ...string) []byte {
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return out
	}
	run("ffmpeg", append(append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"}, x264...), mp4)...)
	run("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", mp4, "-c", "copy",
		"-bsf:v", "h264_mp4toannexb,h264_metadata=aud=insert", "-f", "h264", path)
	// The MP4's packets are the access units in the same (decode) order, with their pts.
	for _, f := range strings.Fields(string(run("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=pts_time", "-of", "csv=p=0", mp4))) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(f, ","), 64)
		if err != nil {
			t.Fatalf("ffprobe pts %q: %v", f, err)
		}
		pts = append(pts, time.Duration(math.Round(v*1000))*time.Millisecond)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	var au [][]byte
	for _, n := range nalus {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeAccessUnitDelimiter:
			if len(au) > 0 {
				aus = append(aus, au)
			}
			au = nil
			continue
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
		au = append(au, n)
	}
	if len(au) > 0 {
		aus = append(aus, au)
	}
	if len(aus) != 50 || len(pts) != 50 || sps == nil || pps == nil {
		t.Fatalf("%d access units, %d pts, sps %v pps %v", len(aus), len(pts), sps != nil, pps != nil)
	}
	return aus, pts, sps, pps
}

// Camera is an RTSP server (gortsplib) that serves one H.264 stream like a camera: it loops
// the access units at 25 fps in real time. Pause makes it stall (connection up, no packets).
type Camera struct {
	t      testing.TB
	srv    *gortsplib.Server
	mu     sync.Mutex // guards stream: the handler runs on server goroutines
	stream *gortsplib.ServerStream
	media  *description.Media
	aus    [][][]byte
	pts    []time.Duration // per access unit; nil = decode order at 25 fps
	Paused atomic.Bool     // true: the session stays up but no packets are sent
	Sent   atomic.Int64    // access units sent
	stop   chan struct{}
	wg     sync.WaitGroup
}

func (c *Camera) serve() (*base.Response, *gortsplib.ServerStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

func (c *Camera) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return c.serve()
}

func (c *Camera) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return c.serve()
}

func (c *Camera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// Start serves on addr ("127.0.0.1:port"); udpPort > 0 also enables UDP transport.
func Start(t testing.TB, addr string, udpPort int, aus [][][]byte, sps, pps []byte) *Camera {
	t.Helper()
	return StartTimed(t, addr, udpPort, aus, nil, sps, pps)
}

// StartTimed is Start for access units with B-frames: unit i is sent in turn (decode order,
// every 40 ms) with its presentation time pts[i] as RTP timestamp, as a camera does.
func StartTimed(t testing.TB, addr string, udpPort int, aus [][][]byte, pts []time.Duration, sps, pps []byte) *Camera {
	t.Helper()
	if pts != nil && len(pts) != len(aus) {
		t.Fatalf("%d pts for %d access units", len(pts), len(aus))
	}
	c := &Camera{t: t, aus: aus, pts: pts, stop: make(chan struct{})}
	c.srv = &gortsplib.Server{Handler: c, RTSPAddress: addr}
	if udpPort > 0 {
		c.srv.UDPRTPAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(udpPort))
		c.srv.UDPRTCPAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(udpPort+1))
	}
	if err := c.srv.Start(); err != nil {
		t.Fatalf("rtsp server on %s: %v", addr, err)
	}
	forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps}
	c.media = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	stream := gortsplib.NewServerStream(c.srv, &description.Session{Medias: []*description.Media{c.media}})
	c.mu.Lock()
	c.stream = stream
	c.mu.Unlock()
	enc, err := forma.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	c.wg.Add(1)
	go c.feed(enc)
	return c
}

func (c *Camera) feed(enc *rtph264.Encoder) {
	defer c.wg.Done()
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		if c.Paused.Load() {
			continue
		}
		pkts, err := enc.Encode(c.aus[i%len(c.aus)])
		if err != nil {
			c.t.Errorf("rtp encode: %v", err)
			return
		}
		ts := uint32(i * 3600) // 90 kHz
		if c.pts != nil {
			loop := i / len(c.aus)
			ts = uint32(loop*len(c.aus)*3600) + uint32(c.pts[i%len(c.aus)]*90000/time.Second)
		}
		for _, p := range pkts {
			p.Timestamp = ts
			_ = c.stream.WritePacketRTP(c.media, p)
		}
		c.Sent.Add(1)
	}
}

// Close stops the server and drops every session (a camera that dies).
func (c *Camera) Close() {
	close(c.stop)
	c.wg.Wait()
	c.stream.Close()
	c.srv.Close()
}

// FreeUDPPair returns an even port p with p and p+1 free for UDP.
func FreeUDPPair(t testing.TB) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		c.Close()
		a, err1 := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		b, err2 := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		if a != nil {
			a.Close()
		}
		if b != nil {
			b.Close()
		}
		if err1 == nil && err2 == nil {
			return p
		}
	}
	t.Fatal("no free UDP port pair")
	return 0
}
