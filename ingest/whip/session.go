package whip

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/actionstream/actionstream/ingest"
)

const (
	// maxReorderDelay is how long the sample builder waits for a missing packet (reordered, or
	// resent after a NACK) before it gives the frame up.
	maxReorderDelay = 300 * time.Millisecond
	// pliInterval rate-limits keyframe requests while waiting for a keyframe.
	pliInterval = 500 * time.Millisecond
	// maxSkew: a sender clock (RTCP SR) further than this from ours is not trusted for Wall.
	maxSkew = 5 * time.Second
)

type remoteTrack struct {
	track *webrtc.TrackRemote
	recv  *webrtc.RTPReceiver
}

// senderReport maps an RTP timestamp to the sender's wall clock (RTCP SR).
type senderReport struct {
	wall  time.Time
	rtp   uint32
	clock int64
}

// session is one publisher's PeerConnection and the ingest.Source that reads its video.
type session struct {
	srv          *Server
	stream, id   string
	log          *slog.Logger
	pc           *webrtc.PeerConnection
	tracks       chan remoteTrack
	done         chan struct{} // closed when the session starts ending
	finished     chan struct{} // closed when the connection is closed and its goroutines ended
	closeOnce    sync.Once
	endReason    atomic.Value // string: the first close reason
	ran          atomic.Bool
	sr           atomic.Pointer[senderReport]
	packetsLost  atomic.Int64
	keyRequests  atomic.Int64
	mu           sync.Mutex
	closing      bool
	wg           sync.WaitGroup // track readers started by pion callbacks
	disconnected atomic.Bool
	deadline     *time.Timer // ends the session when ICE does not (re)connect in time; under mu
}

// start negotiates: it applies the offer and returns the answer with the candidates gathered
// within maxGatherWait (WHIP servers do not trickle; see maxGatherWait). code is the HTTP
// status for err.
func (ss *session) start(ctx context.Context, offer string) (string, int, error) {
	api, err := ss.srv.newAPI()
	if err != nil {
		return "", http.StatusInternalServerError, fmt.Errorf("webrtc setup: %w", err)
	}
	var servers []webrtc.ICEServer
	for _, s := range ss.srv.cfg.ICE.Servers {
		servers = append(servers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: servers})
	if err != nil {
		return "", http.StatusInternalServerError, fmt.Errorf("webrtc setup: %w", err)
	}
	ss.mu.Lock()
	ss.pc = pc
	ss.mu.Unlock()
	pc.OnTrack(func(t *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			select {
			case ss.tracks <- remoteTrack{t, recv}:
				return
			default: // a second video track: only the first is analysed
			}
		}
		ss.goTrack(func() { drain(t) })
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		ss.log.Debug("connection state", "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateDisconnected:
			// pion reports this after half the timeout of silence; the other half is ours.
			ss.disconnected.Store(true)
			ss.log.Info("publisher silent; waiting for it to come back", "timeout", ss.srv.cfg.DisconnectTimeout)
			ss.armDeadline((ss.srv.cfg.DisconnectTimeout - ss.srv.cfg.DisconnectTimeout/2).D(), "ICE failed: publisher gone")
		case webrtc.PeerConnectionStateConnected:
			ss.disconnected.Store(false)
			ss.armDeadline(0, "")
		case webrtc.PeerConnectionStateFailed:
			ss.close("ICE failed: publisher gone")
		case webrtc.PeerConnectionStateClosed:
			ss.close("connection closed")
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", http.StatusBadRequest, fmt.Errorf("offer rejected: %w", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", http.StatusBadRequest, fmt.Errorf("no answer to this offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", http.StatusInternalServerError, fmt.Errorf("webrtc answer: %w", err)
	}
	t := time.NewTimer(maxGatherWait)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C:
		ss.log.Warn("ICE gathering incomplete (a STUN/TURN server slow or unreachable); answering with the candidates so far", "after", maxGatherWait)
	case <-ctx.Done():
		return "", http.StatusServiceUnavailable, ctx.Err()
	}
	return pc.LocalDescription().SDP, 0, nil
}

// answered starts the connect deadline once the answer is on its way: the publisher starts its
// ICE checks only when it has the answer, so time spent gathering does not count against it.
func (ss *session) answered() {
	if ss.pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		return
	}
	ss.armDeadline(ss.srv.cfg.DisconnectTimeout.D(), "ICE failed: publisher never connected")
}

// armDeadline (re)starts the session's deadline: after d without a connection the session ends
// with reason. d == 0 stops it (connected).
func (ss *session) armDeadline(d time.Duration, reason string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.deadline != nil {
		ss.deadline.Stop()
		ss.deadline = nil
	}
	if d == 0 || ss.closing {
		return
	}
	ss.deadline = time.AfterFunc(d, func() { ss.close(reason) })
}

// goTrack runs f on a goroutine the session waits for, unless the session is ending.
func (ss *session) goTrack(f func()) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing {
		return false
	}
	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		f()
	}()
	return true
}

func drain(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}

// close ends the session once: the connection is closed on a goroutine the Server waits for
// (pion callbacks may call close), and finished is closed when everything has stopped.
func (ss *session) close(reason string) {
	ss.closeOnce.Do(func() {
		ss.endReason.Store("publisher session ended: " + reason)
		ss.log.Info("session ending", "reason", reason, "packets_lost", ss.packetsLost.Load(), "keyframe_requests", ss.keyRequests.Load())
		close(ss.done)
		ss.srv.wg.Add(1)
		go func() {
			defer ss.srv.wg.Done()
			ss.mu.Lock()
			ss.closing = true
			pc := ss.pc
			if ss.deadline != nil {
				ss.deadline.Stop()
			}
			ss.mu.Unlock()
			if pc != nil {
				if err := pc.Close(); err != nil {
					ss.log.Debug("closing the connection", "err", err)
				}
			}
			ss.wg.Wait()
			ss.srv.forget(ss)
			close(ss.finished)
		}()
	})
}

// EndReason implements ingest.EndReasoner: why the session ended ("DELETE", "ICE failed: …").
func (ss *session) EndReason() string {
	r, _ := ss.endReason.Load().(string)
	return r
}

// Run implements ingest.Source: it emits the publisher's video as access units until the
// publisher leaves (DELETE, ICE failure after the disconnect timeout, connection closed: nil),
// ctx ends (ctx.Err()), or emit fails. A session that ends before its first access unit returns
// an error wrapping ErrNoVideo: the stream never came up, so it must not be reported as going
// down. The connection is closed before Run returns. A session runs once: a second Run returns
// ErrSessionOver, so the supervisor never retries it.
func (ss *session) Run(ctx context.Context, emit func(ingest.Packet) error) error {
	if !ss.ran.CompareAndSwap(false, true) {
		return ErrSessionOver
	}
	defer func() {
		ss.close("source ended")
		<-ss.finished
	}()
	stop := context.AfterFunc(ctx, func() { ss.close("shutdown") })
	defer stop()
	timer := time.NewTimer(ss.srv.cfg.TrackTimeout.D())
	defer timer.Stop()
	var rt remoteTrack
	select {
	case rt = <-ss.tracks:
	case <-ss.done:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ss.neverUp()
	case <-timer.C:
		return fmt.Errorf("stream %q: nothing within %s: %w", ss.stream, ss.srv.cfg.TrackTimeout, ErrNoVideo)
	}
	codec, ok := codecFor(rt.track.Codec().MimeType)
	if !ok {
		return fmt.Errorf("stream %q: codec %s: %w", ss.stream, rt.track.Codec().MimeType, ErrSessionOver)
	}
	ss.log.Info("receiving video", "codec", codec.name, "ssrc", uint32(rt.track.SSRC()))
	clock := int64(rt.track.Codec().ClockRate)
	if clock <= 0 {
		clock = 90000
	}
	ssrc := uint32(rt.track.SSRC())
	if !ss.goTrack(func() { ss.readRTCP(rt.recv, ssrc, clock) }) {
		return ctx.Err()
	}
	var up bool
	err := ss.receive(rt.track, codec, clock, func(p ingest.Packet) error {
		up = true
		return emit(p)
	})
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err == nil && !up:
		return ss.neverUp()
	}
	return err
}

// neverUp is Run's error for a session that ended before any video reached the pipeline.
func (ss *session) neverUp() error {
	reason := ss.EndReason()
	if reason == "" {
		reason = "publisher session ended"
	}
	return fmt.Errorf("stream %q: %s before any video: %w", ss.stream, reason, ErrNoVideo)
}

// receive reorders and depacketizes RTP into access units and emits them. Until the first
// keyframe, and after a loss until the next one, frames are dropped and keyframes requested
// (PLI), so the decoder never sees a picture whose references are missing.
func (ss *session) receive(track *webrtc.TrackRemote, codec videoCodec, clock int64, emit func(ingest.Packet) error) error {
	sb := samplebuilder.New(512, codec.depkt(), uint32(clock), samplebuilder.WithMaxTimeDelay(maxReorderDelay))
	ssrc := uint32(track.SSRC())
	var lastPLI time.Time
	requestKey := func() {
		if time.Since(lastPLI) < pliInterval {
			return
		}
		lastPLI = time.Now()
		ss.keyRequests.Add(1)
		if err := ss.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
			ss.log.Debug("PLI", "err", err)
		}
	}
	requestKey()
	var (
		started, waitKey = false, true
		first            = true
		lastTS           uint32
		ext              int64 // RTP timestamp since the first emitted frame, unwrapped
	)
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return nil // connection closed: the publisher left or the session was ended
		}
		sb.Push(pkt)
		for smp := sb.Pop(); smp != nil; smp = sb.Pop() {
			if smp.PrevDroppedPackets > 0 {
				ss.packetsLost.Add(int64(smp.PrevDroppedPackets))
				waitKey = true
			}
			key := codec.key(smp.Data)
			if waitKey {
				if !key {
					requestKey()
					continue
				}
				waitKey = false
			}
			ts := smp.PacketTimestamp
			if started {
				ext += int64(int32(ts - lastTS))
			}
			started, lastTS = true, ts
			now := time.Now()
			p := ingest.Packet{Data: smp.Data, PTS: ticks(ext, clock), Wall: ss.wall(ts, now), Key: key}
			if first {
				p.Codec = &ingest.CodecInfo{Codec: codec.name}
				first = false
			}
			if err := emit(p); err != nil {
				return fmt.Errorf("whip stream %q: %w", ss.stream, err)
			}
		}
	}
}

// ticks converts RTP clock ticks to a duration without overflowing.
func ticks(n, clock int64) time.Duration {
	return time.Duration(n/clock)*time.Second + time.Duration(n%clock*int64(time.Second)/clock)
}

// wall is the capture time of the frame with RTP timestamp ts: from the latest RTCP sender
// report when the sender's clock agrees with ours within maxSkew, else the arrival time.
func (ss *session) wall(ts uint32, arrival time.Time) time.Time {
	sr := ss.sr.Load()
	if sr == nil {
		return arrival
	}
	w := sr.wall.Add(ticks(int64(int32(ts-sr.rtp)), sr.clock))
	if d := w.Sub(arrival); d > maxSkew || d < -maxSkew {
		return arrival
	}
	return w
}

// readRTCP reads the receiver's RTCP (which also drives the report and NACK interceptors) and
// keeps the latest sender report of the video SSRC.
func (ss *session) readRTCP(recv *webrtc.RTPReceiver, ssrc uint32, clock int64) {
	for {
		pkts, _, err := recv.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == ssrc {
				ss.sr.Store(&senderReport{wall: ntpTime(sr.NTPTime), rtp: sr.RTPTime, clock: clock})
			}
		}
	}
}

// ntpTime converts a 32.32 fixed-point NTP timestamp (seconds since 1900) to time.Time.
func ntpTime(ntp uint64) time.Time {
	const unixOffset = 2208988800 // seconds from 1900 to 1970
	sec := int64(ntp>>32) - unixOffset
	nsec := int64((ntp & 0xffffffff) * uint64(time.Second) >> 32)
	return time.Unix(sec, nsec)
}
