// Package whip is the WebRTC-HTTP Ingestion Protocol endpoint (RFC 9725,
// https://www.rfc-editor.org/rfc/rfc9725): a publisher (browser, OBS, GStreamer, FFmpeg) POSTs an
// SDP offer to /whip/{stream}, gets an SDP answer and a session URL, and sends H.264, VP8 or VP9
// over WebRTC (pion). Each session becomes an ingest.Source that depacketizes RTP into access
// units with presentation times from RTP timestamps, attached to the pipeline as a live stream.
package whip

import (
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config configures the WHIP endpoint. Zero values take the defaults noted per field.
type Config struct {
	// Token is the bearer token publishers must send (Authorization: Bearer <token>). With no
	// token the endpoint refuses every offer unless Open is set.
	Token string
	// Open accepts offers without a token (a trusted network only).
	Open bool
	// MaxSessions bounds concurrent publishers (default 16); over it, offers get 503.
	MaxSessions int
	// MaxSDPBytes bounds an offer's size (default 64 KiB); over it, 413.
	MaxSDPBytes int
	// DisconnectTimeout is how long a publisher may be silent (no ICE traffic) before its
	// session is ended and the stream goes down (default 5s).
	DisconnectTimeout time.Duration
	// TrackTimeout is how long a session waits for the first video packet after the answer
	// (default 15s); a publisher that never sends video is dropped.
	TrackTimeout time.Duration
	// Codecs are the video codecs offered to publishers, in preference order (default
	// h264, vp8, vp9).
	Codecs []string
	// AllowOrigin is the CORS Access-Control-Allow-Origin value (default "*": any page may
	// publish, the token still guards the endpoint).
	AllowOrigin string
	ICE         ICE
	Logger      *slog.Logger
}

// ICE configures connectivity. The defaults (host candidates on every interface, loopback
// included, ephemeral UDP ports) work on loopback and a LAN.
type ICE struct {
	// Servers are STUN/TURN servers used to gather candidates; they are also sent to publishers
	// as Link headers (RFC 9725 section 4.6).
	Servers []ICEServer
	// PublicIPs replace the host candidates' addresses (1:1 NAT: a cloud VM's public IP).
	PublicIPs []string
	// UDPPortMin..UDPPortMax bounds the ports ICE listens on (0,0 = ephemeral).
	UDPPortMin, UDPPortMax uint16
	// TCPAddr, when set (e.g. ":8189"), also accepts ICE over TCP on that address (passive),
	// for publishers behind UDP-blocking firewalls.
	TCPAddr string
}

// ICEServer is one STUN or TURN server.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// Supported video codecs (FFmpeg decoder names).
var knownCodecs = map[string]bool{"h264": true, "vp8": true, "vp9": true}

func (c *Config) defaults() error {
	if c.MaxSessions == 0 {
		c.MaxSessions = 16
	}
	if c.MaxSDPBytes == 0 {
		c.MaxSDPBytes = 64 << 10
	}
	if c.DisconnectTimeout == 0 {
		c.DisconnectTimeout = 5 * time.Second
	}
	if c.TrackTimeout == 0 {
		c.TrackTimeout = 15 * time.Second
	}
	if len(c.Codecs) == 0 {
		c.Codecs = []string{"h264", "vp8", "vp9"}
	}
	if c.AllowOrigin == "" {
		c.AllowOrigin = "*"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.MaxSessions < 0:
		return fmt.Errorf("%w: max sessions %d", ErrBadConfig, c.MaxSessions)
	case c.MaxSDPBytes < 1024:
		return fmt.Errorf("%w: max SDP size %d is below 1024 bytes", ErrBadConfig, c.MaxSDPBytes)
	case c.DisconnectTimeout < 200*time.Millisecond:
		return fmt.Errorf("%w: disconnect timeout %s is below 200ms", ErrBadConfig, c.DisconnectTimeout)
	case c.ICE.UDPPortMin > c.ICE.UDPPortMax || (c.ICE.UDPPortMin == 0) != (c.ICE.UDPPortMax == 0):
		return fmt.Errorf("%w: UDP port range %d-%d", ErrBadConfig, c.ICE.UDPPortMin, c.ICE.UDPPortMax)
	}
	for _, codec := range c.Codecs {
		if !knownCodecs[codec] {
			return fmt.Errorf("%w: codec %q (h264, vp8, vp9)", ErrBadConfig, codec)
		}
	}
	for _, ip := range c.ICE.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("%w: public IP %q", ErrBadConfig, ip)
		}
	}
	for _, s := range c.ICE.Servers {
		if len(s.URLs) == 0 {
			return fmt.Errorf("%w: an ICE server without URLs", ErrBadConfig)
		}
	}
	return nil
}
