package whip_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/ingest/whip"
	"github.com/actionstream/actionstream/ingest/whip/whipclient"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
	"github.com/actionstream/actionstream/pipeline"
)

// stunServer answers STUN Binding requests on loopback after delay, with the sender's address
// as XOR-MAPPED-ADDRESS (RFC 8489 section 14.2). answer=false: it reads and never replies, a
// server behind a firewall that drops the traffic.
type stunServer struct {
	conn     net.PacketConn
	requests atomic.Int64
	wg       sync.WaitGroup
}

func startSTUN(t *testing.T, answer bool, delay time.Duration) *stunServer {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stunServer{conn: conn}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type != stun.BindingRequest {
				continue
			}
			s.requests.Add(1)
			if !answer {
				continue
			}
			ua, ok := from.(*net.UDPAddr)
			if !ok {
				continue
			}
			resp, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: ua.IP, Port: ua.Port}, stun.Fingerprint)
			if err != nil {
				t.Errorf("building a STUN response: %v", err)
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				time.Sleep(delay)
				conn.WriteTo(resp.Raw, from) // a closed socket at the end of the test: nothing to do
			}()
		}
	}()
	t.Cleanup(func() { conn.Close(); s.wg.Wait() })
	return s
}

func (s *stunServer) url() string { return "stun:" + s.conn.LocalAddr().String() }

// TestSlowOrUnreachableSTUN: with a STUN server configured that never answers, or answers after
// 1.5 s, the offer is answered within the bounded gathering wait (not pion's 5 s STUN timeout),
// the session outlives the disconnect timeout (its clock starts at the answer, not before
// gathering), and the publisher's video is scored with one stream.up and no stream.down.
func TestSlowOrUnreachableSTUN(t *testing.T) {
	h264, _ := fixtures(t)
	for _, tc := range []struct {
		name   string
		answer bool
		delay  time.Duration
	}{
		{"unreachable", false, 0},
		{"slow", true, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stunSrv := startSTUN(t, tc.answer, tc.delay)
			const disconnect = 2 * time.Second
			srv := startLiveWith(t, whip.Config{Token: token, DisconnectTimeout: confkit.Duration(disconnect),
				ICE: whip.ICE{Servers: []whip.ICEServer{{URLs: []string{stunSrv.url()}}}}})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const stream = "stun-cam"
			start := time.Now()
			pub, _ := publish(t, ctx, whipclient.Options{URL: srv.url + "/whip/" + stream, Token: token, Codec: "h264"}, h264)
			answeredIn := time.Since(start)
			t.Logf("answered in %s", answeredIn.Round(time.Millisecond))
			if answeredIn > 2500*time.Millisecond {
				t.Errorf("the answer took %s: gathering must not wait for the STUN server", answeredIn)
			}
			if stunSrv.requests.Load() == 0 {
				t.Fatal("the STUN server got no Binding request: it is not configured")
			}
			if err := pub.WaitConnected(ctx); err != nil {
				t.Fatalf("publisher never connected: %v", err)
			}
			testutil.WaitFor(t, 40*time.Second, func() bool { return srv.count(t, stream, events.TypeClipScored) >= 3 },
				func() string {
					return fmt.Sprintf("clips scored %d; streams %+v", srv.count(t, stream, events.TypeClipScored), srv.p.Streams())
				})
			// Well past the disconnect timeout since the answer: still live.
			if wait := time.Until(start.Add(answeredIn + disconnect + time.Second)); wait > 0 {
				time.Sleep(wait)
			}
			if n := srv.count(t, stream, events.TypeStreamDown); n != 0 || srv.whip.Stats().Sessions != 1 {
				t.Fatalf("session ended: %d stream.down, %d sessions, streams %+v", n, srv.whip.Stats().Sessions, srv.p.Streams())
			}
			if n := srv.count(t, stream, events.TypeStreamUp); n != 1 {
				t.Errorf("%d stream.up events, want 1", n)
			}
			for _, st := range srv.p.Streams() {
				if st.ID == stream && st.Status != pipeline.StatusUp {
					t.Errorf("stream %+v", st)
				}
			}
		})
	}
}

// TestNeverConnectedNoStreamDown: a publisher that gets its answer but never connects is ended
// one disconnect timeout after the answer, its stream is removed, and no stream.down (nor
// stream.up) is emitted for a stream that never came up.
func TestNeverConnectedNoStreamDown(t *testing.T) {
	const disconnect = time.Second
	srv := startLive(t, disconnect)
	good := offer(t) // its publisher is closed: nobody will answer the server's ICE checks
	start := time.Now()
	resp, body, err := whipclient.PostOffer(context.Background(), http.DefaultClient, srv.url+"/whip/ghost", token, "application/sdp", []byte(good))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("offer: %v %v %s", resp, err, body)
	}
	answered := time.Since(start)
	testutil.WaitFor(t, disconnect+10*time.Second, func() bool { return srv.whip.Stats().Sessions == 0 && len(srv.p.Streams()) == 0 },
		func() string {
			return fmt.Sprintf("not ended: %d sessions, streams %+v", srv.whip.Stats().Sessions, srv.p.Streams())
		})
	ended := time.Since(start)
	if ended < answered+disconnect-100*time.Millisecond {
		t.Errorf("ended %s after the POST, answered after %s: before the disconnect timeout %s", ended, answered, disconnect)
	}
	time.Sleep(300 * time.Millisecond) // an event emitted at removal has time to reach the file
	for _, typ := range []string{events.TypeStreamDown, events.TypeStreamUp} {
		if n := srv.count(t, "ghost", typ); n != 0 {
			t.Errorf("%d %s events for a publisher that never came up", n, typ)
		}
	}
	t.Logf("never-connected session ended %s after the answer", (ended - answered).Round(time.Millisecond))
}
