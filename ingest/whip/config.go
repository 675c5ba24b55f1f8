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
	"strings"
	"time"

	"github.com/actionstream/actionstream/confkit"
)

// Config configures the WHIP endpoint: the `whip` section (less `enabled`, which is the
// daemon's choice to mount it). Zero values take DefaultConfig's.
type Config struct {
	// Token is the bearer token publishers must send (Authorization: Bearer <token>). With no
	// token the endpoint refuses every offer unless Open is set.
	Token string `yaml:"token"`
	// Open accepts offers without a token (a trusted network only).
	Open bool `yaml:"open"`
	// MaxSessions bounds concurrent publishers; over it, offers get 503.
	MaxSessions int `yaml:"max_sessions"`
	// MaxSDPBytes bounds an offer's size; over it, 413.
	MaxSDPBytes int `yaml:"max_sdp_bytes"`
	// DisconnectTimeout is how long a publisher may be silent (no ICE traffic) before its
	// session is ended and the stream goes down.
	DisconnectTimeout confkit.Duration `yaml:"disconnect_timeout"`
	// TrackTimeout is how long a session waits for the first video packet after the answer;
	// a publisher that never sends video is dropped.
	TrackTimeout confkit.Duration `yaml:"track_timeout"`
	// Codecs are the video codecs offered to publishers, in preference order.
	Codecs []string `yaml:"codecs"`
	// AllowOrigin is the CORS Access-Control-Allow-Origin value ("*": any page may publish,
	// the token still guards the endpoint).
	AllowOrigin string       `yaml:"allow_origin"`
	ICE         ICE          `yaml:",inline"`
	Logger      *slog.Logger `yaml:"-"`
}

// ICE configures connectivity. The defaults (host candidates on every interface, loopback
// included, ephemeral UDP ports) work on loopback and a LAN.
type ICE struct {
	// Servers are STUN/TURN servers used to gather candidates; they are also sent to publishers
	// as Link headers (RFC 9725 section 4.6).
	Servers []ICEServer `yaml:"ice_servers"`
	// PublicIPs replace the host candidates' addresses (1:1 NAT: a cloud VM's public IP).
	PublicIPs []string `yaml:"public_ips"`
	// UDPPortMin..UDPPortMax bounds the ports ICE listens on (0,0 = ephemeral).
	UDPPortMin uint16 `yaml:"udp_port_min"`
	UDPPortMax uint16 `yaml:"udp_port_max"`
	// TCPAddr, when set (e.g. ":8189"), also accepts ICE over TCP on that address (passive),
	// for publishers behind UDP-blocking firewalls.
	TCPAddr string `yaml:"tcp_addr"`
}

// ICEServer is one STUN or TURN server.
type ICEServer struct {
	URLs       []string `yaml:"urls"`
	Username   string   `yaml:"username"`
	Credential string   `yaml:"credential"`
}

// Supported video codecs (FFmpeg decoder names).
var knownCodecs = map[string]bool{"h264": true, "vp8": true, "vp9": true}

// DefaultConfig is the one definition of the endpoint's defaults.
func DefaultConfig() Config {
	return Config{MaxSessions: 16, MaxSDPBytes: 64 << 10, DisconnectTimeout: confkit.Duration(5 * time.Second),
		TrackTimeout: confkit.Duration(15 * time.Second), Codecs: []string{"h264", "vp8", "vp9"}, AllowOrigin: "*"}
}

// WithDefaults fills the zero fields from DefaultConfig.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.MaxSessions == 0 {
		c.MaxSessions = d.MaxSessions
	}
	if c.MaxSDPBytes == 0 {
		c.MaxSDPBytes = d.MaxSDPBytes
	}
	if c.DisconnectTimeout == 0 {
		c.DisconnectTimeout = d.DisconnectTimeout
	}
	if c.TrackTimeout == 0 {
		c.TrackTimeout = d.TrackTimeout
	}
	if len(c.Codecs) == 0 {
		c.Codecs = d.Codecs
	}
	if c.AllowOrigin == "" {
		c.AllowOrigin = d.AllowOrigin
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate checks c (zero fields mean their default); errors name the field by its YAML key
// and wrap ErrBadConfig.
func (c Config) Validate() error {
	p := confkit.Problems{Sentinel: ErrBadConfig}
	if c.MaxSessions < 0 {
		p.Add("max_sessions", "must be >= 1 (0 = default), not %d", c.MaxSessions)
	}
	if c.MaxSDPBytes != 0 && c.MaxSDPBytes < 1024 {
		p.Add("max_sdp_bytes", "must be >= 1024, not %d", c.MaxSDPBytes)
	}
	if c.DisconnectTimeout != 0 && c.DisconnectTimeout.D() < 200*time.Millisecond {
		p.Add("disconnect_timeout", "must be >= 200ms, not %v", c.DisconnectTimeout)
	}
	if c.TrackTimeout < 0 {
		p.Add("track_timeout", "must be > 0 (0 = default)")
	}
	for i, codec := range c.Codecs {
		if !knownCodecs[codec] {
			p.Add(fmt.Sprintf("codecs[%d]", i), "must be h264, vp8 or vp9, not %q", codec)
		}
	}
	if ice := c.ICE; ice.UDPPortMin > ice.UDPPortMax || (ice.UDPPortMin == 0) != (ice.UDPPortMax == 0) {
		p.Add("udp_port_min", "udp_port_min..udp_port_max must both be set, 1..65535, min <= max (or both 0), not %d..%d", ice.UDPPortMin, ice.UDPPortMax)
	}
	for i, ip := range c.ICE.PublicIPs {
		if net.ParseIP(ip) == nil {
			p.Add(fmt.Sprintf("public_ips[%d]", i), "%q is not an IP address", ip)
		}
	}
	for i, srv := range c.ICE.Servers {
		if len(srv.URLs) == 0 {
			p.Add(fmt.Sprintf("ice_servers[%d].urls", i), "at least one stun:, turn: or turns: URL")
		}
		for j, u := range srv.URLs {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				p.Add(fmt.Sprintf("ice_servers[%d].urls[%d]", i, j), "%q must start with stun:, turn: or turns:", u)
			}
		}
	}
	if c.ICE.TCPAddr != "" {
		if _, _, err := net.SplitHostPort(c.ICE.TCPAddr); err != nil {
			p.Add("tcp_addr", "%q is not host:port", c.ICE.TCPAddr)
		}
	}
	return p.Err()
}

// defaults applies the defaults and validates.
func (c *Config) defaults() error {
	*c = c.WithDefaults()
	return c.Validate()
}
