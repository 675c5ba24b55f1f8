// Package whipclient is a small WHIP publisher (RFC 9725) on pion: it sends pre-encoded H.264
// (Annex-B) or VP8 (IVF) frames at a fixed rate, as a camera would. The WHIP tests and
// `actionstream bench whip` use it against the real endpoint.
package whipclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// HTTPError is a refused offer or request: the status and the server's reason.
type HTTPError struct {
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("whip: HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// Options configure a Publisher.
type Options struct {
	URL   string // the WHIP endpoint, e.g. http://host:8080/whip/cam-1
	Token string // bearer token ("" = none)
	Codec string // "h264", "vp8" or "vp9"
	// Conn, if set, is the only socket ICE uses. Closing it makes the publisher vanish without
	// a word (no DELETE, no DTLS close), as a camera that loses power does.
	Conn net.PacketConn
	// Client is the HTTP client (default http.DefaultClient).
	Client *http.Client
	// TCP restricts ICE to TCP (active candidates toward the server's ICE-TCP port), as a
	// publisher behind a UDP-blocking firewall.
	TCP bool
	// Audio also negotiates an Opus track (nothing is sent on it), as OBS offers audio.
	Audio bool
}

// Publisher is one WHIP session.
type Publisher struct {
	opts     Options
	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticSample
	Location string // the session URL (absolute)
	Answer   string // the server's SDP answer

	mu        sync.Mutex
	connected chan struct{}
	connOnce  sync.Once
	plis      int
	wg        sync.WaitGroup
}

// Publish negotiates a session: it builds an offer with every candidate, POSTs it and applies
// the answer. It returns *HTTPError when the server refuses.
func Publish(ctx context.Context, opts Options) (*Publisher, error) {
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	var capability webrtc.RTPCodecCapability
	switch opts.Codec {
	case "h264":
		capability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	case "vp8":
		capability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	case "vp9":
		capability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0"}
	default:
		return nil, fmt.Errorf("whipclient: codec %q (h264, vp8, vp9)", opts.Codec)
	}
	m := &webrtc.MediaEngine{}
	// Only the codec we send: a camera has one encoder, and the server must pick it.
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: capability, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	if opts.Audio {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opus, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	switch {
	case opts.TCP:
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	case opts.Conn != nil:
		se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, opts.Conn))
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &Publisher{opts: opts, pc: pc, connected: make(chan struct{})}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			p.connOnce.Do(func() { close(p.connected) })
		}
	})
	track, err := webrtc.NewTrackLocalStaticSample(capability, "video", "whipclient")
	if err != nil {
		pc.Close()
		return nil, err
	}
	p.track = track
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		pc.Close()
		return nil, err
	}
	if opts.Audio {
		audio, err := webrtc.NewTrackLocalStaticSample(opus, "audio", "whipclient")
		if err == nil {
			_, err = pc.AddTransceiverFromTrack(audio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		}
		if err != nil {
			pc.Close()
			return nil, err
		}
	}
	// Read RTCP so the NACK responder and reports work; count keyframe requests.
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			pkts, _, err := tr.Sender().ReadRTCP()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				if _, ok := pk.(*rtcp.PictureLossIndication); ok {
					p.mu.Lock()
					p.plis++
					p.mu.Unlock()
				}
			}
		}
	}()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		p.Close()
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		p.Close()
		return nil, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		p.Close()
		return nil, ctx.Err()
	}
	answer, loc, err := p.post(ctx, pc.LocalDescription().SDP)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.Answer, p.Location = answer, loc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		p.Close()
		return nil, fmt.Errorf("whipclient: applying the answer: %w", err)
	}
	return p, nil
}

// PostOffer sends a raw offer (any bytes) and returns the response, for protocol tests.
func PostOffer(ctx context.Context, client *http.Client, endpoint, token, contentType string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func (p *Publisher) post(ctx context.Context, offer string) (string, string, error) {
	resp, body, err := PostOffer(ctx, p.opts.Client, p.opts.URL, p.opts.Token, "application/sdp", []byte(offer))
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", "", &HTTPError{Status: resp.StatusCode, Body: string(body)}
	}
	loc, err := resp.Location()
	if err != nil {
		return "", "", fmt.Errorf("whipclient: 201 without a usable Location: %w", err)
	}
	return string(body), loc.String(), nil
}

// WaitConnected waits until ICE and DTLS are up.
func (p *Publisher) WaitConnected(ctx context.Context) error {
	select {
	case <-p.connected:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("whipclient: not connected: %w", ctx.Err())
	}
}

// KeyframeRequests is how many PLIs the server sent.
func (p *Publisher) KeyframeRequests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.plis
}

// WriteFrame sends one encoded frame (an Annex-B access unit or a VP8 frame) lasting d.
func (p *Publisher) WriteFrame(frame []byte, d time.Duration) error {
	return p.track.WriteSample(media.Sample{Data: frame, Duration: d})
}

// Send writes frames at fps, looping over them when loop is set, until ctx ends (nil) or the
// frames end. onFrame, if set, is called with each frame's index and its capture time (just
// before it is written).
func (p *Publisher) Send(ctx context.Context, frames [][]byte, fps int, loop bool, onFrame func(i int, capture time.Time)) error {
	if len(frames) == 0 || fps <= 0 {
		return errors.New("whipclient: nothing to send")
	}
	d := time.Second / time.Duration(fps)
	start := time.Now()
	for i := 0; ; i++ {
		if !loop && i >= len(frames) {
			return nil
		}
		next := start.Add(time.Duration(i) * d)
		if wait := time.Until(next); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			return nil
		}
		now := time.Now()
		if onFrame != nil {
			onFrame(i, now)
		}
		if err := p.WriteFrame(frames[i%len(frames)], d); err != nil {
			return fmt.Errorf("whipclient: frame %d: %w", i, err)
		}
	}
}

// Delete ends the session the polite way (HTTP DELETE on its Location) and closes the
// connection.
func (p *Publisher) Delete(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, p.Location, nil)
	if err != nil {
		return err
	}
	if p.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.opts.Token)
	}
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &HTTPError{Status: resp.StatusCode, Body: string(b)}
	}
	return p.Close()
}

// Close closes the connection without telling the WHIP server (no DELETE) and waits for the
// publisher's goroutines.
func (p *Publisher) Close() error {
	err := p.pc.Close()
	p.wg.Wait()
	return err
}

// ReadH264 reads an Annex-B H.264 file into access units (one per frame): parameter sets and SEI
// are kept with the slice that follows them. It assumes one slice per picture (ffmpeg's default
// for libx264 without slice options).
func ReadH264(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := h264reader.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	var aus [][]byte
	var cur []byte
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, nal.Data...)
		if t := nal.UnitType; t == h264reader.NalUnitTypeCodedSliceNonIdr || t == h264reader.NalUnitTypeCodedSliceIdr {
			aus = append(aus, cur)
			cur = nil
		}
	}
	if len(aus) == 0 {
		return nil, fmt.Errorf("whipclient: %s holds no H.264 slices", path)
	}
	return aus, nil
}

// ReadIVF reads the frames of an IVF file (VP8 or VP9 from ffmpeg -c:v libvpx[-vp9] -f ivf).
func ReadIVF(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, err
	}
	var frames [][]byte
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		frames = append(frames, frame)
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("whipclient: %s holds no frames", path)
	}
	return frames, nil
}

// ResolveLocation makes a Location header absolute against the endpoint URL.
func ResolveLocation(endpoint, location string) (string, error) {
	base, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	ref, err := url.Parse(location)
	if err != nil {
		return "", err
	}
	return base.ResolveReference(ref).String(), nil
}
