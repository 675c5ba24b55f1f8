// Package configs is the typed configuration of actionstream. Each stage package owns its
// section (type, defaults, validation); configs composes them and adds the daemon's own few
// keys. It loads in one fixed order — defaults, then a YAML file, then ACTIONSTREAM_*
// environment variables — and validates the result, naming the field path in every error.
package configs

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/clipper/motion"
	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/whip"
	"github.com/actionstream/actionstream/sink/sinks"
)

// Duration is a time.Duration that needs its unit ("500ms") in YAML and env.
type Duration = confkit.Duration

// Config is the whole configuration of `actionstream serve`. Each section is the type of the
// package that uses it; only http, whip.enabled, web, log, state_dir and shutdown_timeout
// are the daemon's own.
type Config struct {
	Model      infer.ModelConfig     `yaml:"model"`
	Streams    []ingest.StreamConfig `yaml:"streams"`
	Decode     decode.Limits         `yaml:"decode"`
	Clipper    clipper.Spacing       `yaml:"clipper"`
	Batcher    infer.BatcherConfig   `yaml:"batcher"`
	Infer      infer.Config          `yaml:"infer"`
	Detection  infer.DetectionConfig `yaml:"detection"`
	Events     events.Config         `yaml:"events"`
	Motion     motion.Config         `yaml:"motion"`
	Supervisor ingest.Backoff        `yaml:"supervisor"`
	Sinks      sinks.Config          `yaml:"sinks"`
	HTTP       HTTP                  `yaml:"http"`
	WHIP       WHIP                  `yaml:"whip"`
	Web        Web                   `yaml:"web"`
	Log        Log                   `yaml:"log"`
	// StateDir holds what must survive a restart: the event outbox (outbox.db). A relative
	// path is relative to the working directory.
	StateDir string `yaml:"state_dir"`
	// ShutdownTimeout bounds the ordered shutdown: stop ingest, drain, flush batcher, flush sinks.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// Stream is one camera or file.
type Stream = ingest.StreamConfig

// HTTP serves health, metrics and the API.
type HTTP struct {
	Addr string `yaml:"addr"` // "" = no HTTP server
	// TLSCert and TLSKey are PEM files; with both set the listener speaks HTTPS (browsers give
	// a page the camera only in a secure context).
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// ReadHeaderTimeout bounds the request line and headers, ReadTimeout the whole request
	// with its body (a slow-body client is cut off), WriteTimeout the response (the event
	// stream is exempt), IdleTimeout a keep-alive connection waiting for its next request.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	WriteTimeout      Duration `yaml:"write_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	// MaxRequests caps requests in flight (probes and event streams not counted); more get 503.
	MaxRequests int `yaml:"max_requests"`
	// AllowedHosts are extra Host names the dashboard and API answer to, besides the listen
	// address and the loopback names; any other Host gets 421 (no DNS rebinding).
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// WHIP is the WebRTC ingest endpoint (RFC 9725), served on the HTTP address at
// POST /whip/{stream}: whip's own config, and whether to mount it at all.
type WHIP struct {
	Enabled     bool `yaml:"enabled"`
	whip.Config `yaml:",inline"`
}

// Web serves the dashboard (/) and the browser publish page (/publish) on the HTTP address.
type Web struct {
	Enabled bool `yaml:"enabled"`
	// Token guards the dashboard, /api/*, the event stream, thumbnails and /metrics (a bearer
	// header, or the cookie the sign-in page sets). Separate from whip.token.
	Token string `yaml:"token"`
	// Open serves a non-loopback address without a token (a trusted network only).
	Open bool `yaml:"open"`
	// MaxEventClients caps the open event streams (Server-Sent Events); more get 503.
	MaxEventClients int `yaml:"max_event_clients"`
}

// Log configures log/slog.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Default is the configuration before any file or environment is applied: each stage's own
// defaults, and the daemon's for its keys.
func Default() Config {
	return Config{
		Model:      infer.DefaultModelConfig(),
		Decode:     decode.DefaultLimits(),
		Clipper:    clipper.DefaultSpacing(),
		Batcher:    infer.DefaultBatcherConfig(),
		Infer:      infer.DefaultConfig(),
		Detection:  infer.DefaultDetectionConfig(),
		Events:     events.DefaultConfig(),
		Motion:     motion.DefaultConfig(),
		Supervisor: ingest.DefaultBackoff(),
		Sinks:      sinks.DefaultConfig(),
		HTTP: HTTP{Addr: "127.0.0.1:8080", ReadHeaderTimeout: Duration(10 * time.Second),
			ReadTimeout: Duration(30 * time.Second), WriteTimeout: Duration(30 * time.Second),
			IdleTimeout: Duration(120 * time.Second), MaxRequests: 256},
		WHIP:            WHIP{Enabled: true, Config: whip.DefaultConfig()},
		Web:             Web{Enabled: true, MaxEventClients: 32},
		Log:             Log{Level: "info", Format: "text"},
		StateDir:        "./data",
		ShutdownTimeout: Duration(10 * time.Second),
	}
}

// Load reads defaults, then the YAML file at path (if path is not ""), then the environment
// (ACTIONSTREAM_<FIELD_PATH>, e.g. ACTIONSTREAM_MODEL_PATH), and validates.
func Load(path string, environ []string) (Config, error) {
	var data []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		data = b
	}
	return Parse(data, path, environ)
}

// Parse is Load for YAML already in memory; name is used in error messages.
func Parse(data []byte, name string, environ []string) (Config, error) {
	cfg := Default()
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", name, err)
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks every field; the error lists each problem with its field path. The stage
// sections are checked by their packages.
func (c Config) Validate() error {
	var p confkit.Problems
	p.Nest("model", c.Model.Validate())
	p.Nest("streams", ingest.ValidateStreams(c.Streams))
	p.Nest("decode", c.Decode.Validate())
	p.Nest("clipper", c.Clipper.Validate())
	p.Nest("batcher", c.Batcher.Validate())
	p.Nest("infer", c.Infer.Validate())
	p.Nest("detection", c.Detection.Validate())
	p.Nest("events", c.Events.Validate())
	p.Nest("motion", c.Motion.Validate())
	if !c.WHIP.Enabled { // with WHIP on, an override may name a publisher's stream id
		ids := map[string]bool{}
		for _, st := range c.Streams {
			ids[st.ID] = true
		}
		for _, id := range slices.Sorted(maps.Keys(c.Motion.Streams)) {
			if !ids[id] {
				p.Add("motion.streams."+id, "names no stream of streams[] (and whip is off)")
			}
		}
	}
	p.Nest("supervisor", c.Supervisor.Validate())
	p.Nest("sinks", c.Sinks.Validate())
	if c.WHIP.Enabled {
		p.Nest("whip", c.WHIP.Config.Validate())
	}
	if c.HTTP.Addr != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
			p.Add("http.addr", "%q is not host:port", c.HTTP.Addr)
		}
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		p.Add("http.tls_cert", "and http.tls_key are set together")
	}
	for _, t := range []struct {
		key string
		d   Duration
	}{{"http.read_header_timeout", c.HTTP.ReadHeaderTimeout}, {"http.read_timeout", c.HTTP.ReadTimeout},
		{"http.write_timeout", c.HTTP.WriteTimeout}, {"http.idle_timeout", c.HTTP.IdleTimeout}} {
		if t.d <= 0 {
			p.Add(t.key, "must be > 0")
		}
	}
	if c.HTTP.MaxRequests < 1 {
		p.Add("http.max_requests", "must be >= 1")
	}
	for i, h := range c.HTTP.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ :") && net.ParseIP(h) == nil {
			p.Add(fmt.Sprintf("http.allowed_hosts[%d]", i), "%q is not a host name (no scheme, port or path)", h)
		}
	}
	if c.Web.MaxEventClients < 1 {
		p.Add("web.max_event_clients", "must be >= 1")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.Add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		p.Add("log.format", "must be text or json, not %q", c.Log.Format)
	}
	if c.StateDir == "" {
		p.Add("state_dir", "is required (the outbox lives there)")
	}
	if c.ShutdownTimeout <= 0 {
		p.Add("shutdown_timeout", "must be > 0")
	}
	return p.Err()
}
