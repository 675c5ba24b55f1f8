// Package configs is the typed configuration of actionstream. It loads in one fixed order —
// defaults, then a YAML file, then ACTIONSTREAM_* environment variables — and validates the
// result, naming the field path in every error.
package configs

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of `actionstream serve`.
type Config struct {
	Model      Model      `yaml:"model"`
	Streams    []Stream   `yaml:"streams"`
	Decode     Decode     `yaml:"decode"`
	Clipper    Clipper    `yaml:"clipper"`
	Batcher    Batcher    `yaml:"batcher"`
	Events     Events     `yaml:"events"`
	Supervisor Supervisor `yaml:"supervisor"`
	Sinks      Sinks      `yaml:"sinks"`
	HTTP       HTTP       `yaml:"http"`
	WHIP       WHIP       `yaml:"whip"`
	Web        Web        `yaml:"web"`
	Log        Log        `yaml:"log"`
	// ShutdownTimeout bounds the ordered shutdown: stop ingest, drain, flush batcher, flush sinks.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// Model selects the ONNX model and how ONNX Runtime runs it.
type Model struct {
	Path    string  `yaml:"path"`
	Runtime Runtime `yaml:"runtime"`
}

// Runtime configures ONNX Runtime.
type Runtime struct {
	Library    string `yaml:"library"`     // "" = discover the bundled library
	Threads    int    `yaml:"threads"`     // intra-op threads; 0 = ONNX Runtime's default
	Provider   string `yaml:"provider"`    // cpu | cuda | tensorrt
	RequireGPU bool   `yaml:"require_gpu"` // fail instead of falling back to cpu
}

// Stream is one camera or file.
type Stream struct {
	ID           string   `yaml:"id"`
	URL          string   `yaml:"url"`           // rtsp://…, file://… or a path
	Loop         bool     `yaml:"loop"`          // files only: start again at the end
	Transport    string   `yaml:"transport"`     // rtsp only: tcp (default) | udp
	StallTimeout Duration `yaml:"stall_timeout"` // a source that delivers nothing this long is reconnected
}

// Decode limits what a stream may cost.
type Decode struct {
	MaxWidth  int `yaml:"max_width"`
	MaxHeight int `yaml:"max_height"`
}

// Clipper overrides the model's default clip spacing.
type Clipper struct {
	Hop          Duration `yaml:"hop"`           // 0 = default from the model
	GapTolerance Duration `yaml:"gap_tolerance"` // a clip never spans a gap longer than this
}

// Batcher is the one cross-stream batcher.
type Batcher struct {
	MaxBatch int      `yaml:"max_batch"`
	MaxWait  Duration `yaml:"max_wait"`
}

// Events configures the action lifecycle.
type Events struct {
	Smoothing      int      `yaml:"smoothing"` // clips in the moving average
	On             float64  `yaml:"on"`
	Off            float64  `yaml:"off"`
	MinDuration    Duration `yaml:"min_duration"`
	Cooldown       Duration `yaml:"cooldown"`
	UpdateInterval Duration `yaml:"update_interval"`
	ClipScored     bool     `yaml:"clip_scored"` // emit clip.scored per clip
	TopK           int      `yaml:"top_k"`
	// Ignore lists labels that never start an action (e.g. a "static" background class).
	Ignore []string `yaml:"ignore"`
}

// Supervisor restarts failed sources.
type Supervisor struct {
	BackoffInitial Duration `yaml:"backoff_initial"`
	BackoffMax     Duration `yaml:"backoff_max"`
}

// Sinks are where events go; JSON lines to stdout unless configured otherwise.
type Sinks struct {
	// Buffer is how many events may wait for a slow or down sink before producers block.
	Buffer int   `yaml:"buffer"`
	JSONL  JSONL `yaml:"jsonl"`
	Kafka  Kafka `yaml:"kafka"`
	Redis  Redis `yaml:"redis"`
}

// JSONL writes one JSON event per line.
type JSONL struct {
	Enabled bool   `yaml:"enabled"`
	Path    string `yaml:"path"` // "-" = stdout
}

// Kafka produces events with acks from all replicas.
type Kafka struct {
	Enabled      bool     `yaml:"enabled"`
	Brokers      []string `yaml:"brokers"`
	Topic        string   `yaml:"topic"`
	ClipTopic    string   `yaml:"clip_topic"` // clip.scored events; "" = not produced to Kafka
	BatchTimeout Duration `yaml:"batch_timeout"`
}

// Redis keeps each stream's current state, and optionally a stream of events.
type Redis struct {
	Enabled   bool     `yaml:"enabled"`
	Addr      string   `yaml:"addr"`
	Password  string   `yaml:"password"`
	DB        int      `yaml:"db"`
	KeyPrefix string   `yaml:"key_prefix"`
	TTL       Duration `yaml:"ttl"`
	Stream    string   `yaml:"stream"` // "" = no Redis Stream of events
}

// HTTP serves health, metrics and the API.
type HTTP struct {
	Addr string `yaml:"addr"` // "" = no HTTP server
}

// WHIP is the WebRTC ingest endpoint (RFC 9725), served on the HTTP address at
// POST /whip/{stream}. Publishers need the bearer token; with no token it refuses every offer
// unless Open is set.
type WHIP struct {
	Enabled     bool   `yaml:"enabled"`
	Token       string `yaml:"token"`
	Open        bool   `yaml:"open"` // accept offers without a token (trusted networks only)
	MaxSessions int    `yaml:"max_sessions"`
	MaxSDPBytes int    `yaml:"max_sdp_bytes"`
	// DisconnectTimeout: a publisher silent this long is dropped and its stream goes down.
	DisconnectTimeout Duration    `yaml:"disconnect_timeout"`
	Codecs            []string    `yaml:"codecs"`       // h264, vp8, vp9 in preference order
	AllowOrigin       string      `yaml:"allow_origin"` // CORS; "*" = any page may publish (with the token)
	ICEServers        []ICEServer `yaml:"ice_servers"`  // STUN/TURN
	PublicIPs         []string    `yaml:"public_ips"`   // 1:1 NAT: the address publishers reach
	UDPPortMin        int         `yaml:"udp_port_min"` // 0,0 = ephemeral ports
	UDPPortMax        int         `yaml:"udp_port_max"`
	TCPAddr           string      `yaml:"tcp_addr"` // ICE-TCP listen address, e.g. ":8189"; "" = UDP only
}

// ICEServer is a STUN or TURN server.
type ICEServer struct {
	URLs       []string `yaml:"urls"`
	Username   string   `yaml:"username"`
	Credential string   `yaml:"credential"`
}

// Web serves the dashboard (/) and the browser publish page (/publish) on the HTTP address.
type Web struct {
	Enabled bool `yaml:"enabled"`
}

// Log configures log/slog.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Default is the configuration before any file or environment is applied.
func Default() Config {
	return Config{
		Model:   Model{Runtime: Runtime{Provider: "cpu"}},
		Decode:  Decode{MaxWidth: 3840, MaxHeight: 2160},
		Clipper: Clipper{GapTolerance: Duration(500 * time.Millisecond)},
		Batcher: Batcher{MaxBatch: 8, MaxWait: Duration(40 * time.Millisecond)},
		Events: Events{Smoothing: 3, On: 0.6, Off: 0.4, MinDuration: Duration(time.Second),
			Cooldown: Duration(2 * time.Second), UpdateInterval: Duration(5 * time.Second), TopK: 5},
		Supervisor: Supervisor{BackoffInitial: Duration(500 * time.Millisecond), BackoffMax: Duration(30 * time.Second)},
		Sinks: Sinks{Buffer: 10000, JSONL: JSONL{Enabled: true, Path: "-"},
			Kafka: Kafka{Topic: "actionstream.events", BatchTimeout: Duration(5 * time.Millisecond)},
			Redis: Redis{KeyPrefix: "actionstream:", TTL: Duration(60 * time.Second)}},
		HTTP: HTTP{Addr: "127.0.0.1:8080"},
		WHIP: WHIP{Enabled: true, MaxSessions: 16, MaxSDPBytes: 64 << 10, DisconnectTimeout: Duration(5 * time.Second),
			Codecs: []string{"h264", "vp8", "vp9"}, AllowOrigin: "*"},
		Web:             Web{Enabled: true},
		Log:             Log{Level: "info", Format: "text"},
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

// Validate checks every field; the error lists each problem with its field path.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Model.Path == "" {
		bad("model.path", "is required")
	}
	switch c.Model.Runtime.Provider {
	case "cpu", "cuda", "tensorrt":
	default:
		bad("model.runtime.provider", "must be cpu, cuda or tensorrt, not %q", c.Model.Runtime.Provider)
	}
	if c.Model.Runtime.Threads < 0 {
		bad("model.runtime.threads", "must be >= 0")
	}
	seen := map[string]bool{}
	for i, s := range c.Streams {
		p := fmt.Sprintf("streams[%d]", i)
		switch {
		case s.ID == "":
			bad(p+".id", "is required")
		case !validStreamID(s.ID):
			bad(p+".id", "%q may only hold letters, digits, '-', '_' and '.'", s.ID)
		case seen[s.ID]:
			bad(p+".id", "%q is used twice", s.ID)
		}
		seen[s.ID] = true
		if s.URL == "" {
			bad(p+".url", "is required")
		} else if k := URLKind(s.URL); k == "" {
			bad(p+".url", "scheme must be rtsp://, file:// or a plain path")
		} else if k != "rtsp" && s.Transport != "" {
			bad(p+".transport", "applies to rtsp:// only")
		}
		switch s.Transport {
		case "", "tcp", "udp":
		default:
			bad(p+".transport", "must be tcp or udp, not %q", s.Transport)
		}
		if s.StallTimeout < 0 {
			bad(p+".stall_timeout", "must be >= 0")
		}
	}
	if c.Decode.MaxWidth <= 0 || c.Decode.MaxHeight <= 0 {
		bad("decode", "max_width and max_height must be > 0")
	}
	if c.Clipper.Hop < 0 {
		bad("clipper.hop", "must be >= 0")
	}
	if c.Clipper.GapTolerance <= 0 {
		bad("clipper.gap_tolerance", "must be > 0")
	}
	if c.Batcher.MaxBatch < 1 {
		bad("batcher.max_batch", "must be >= 1")
	}
	if c.Batcher.MaxWait <= 0 {
		bad("batcher.max_wait", "must be > 0")
	}
	e := c.Events
	if e.Smoothing < 1 {
		bad("events.smoothing", "must be >= 1")
	}
	if e.On <= 0 || e.On > 1 {
		bad("events.on", "must be in (0, 1]")
	}
	if e.Off < 0 || e.Off >= e.On {
		bad("events.off", "must be in [0, events.on)")
	}
	if e.MinDuration < 0 || e.Cooldown < 0 {
		bad("events", "min_duration and cooldown must be >= 0")
	}
	if e.UpdateInterval <= 0 {
		bad("events.update_interval", "must be > 0")
	}
	if e.TopK < 1 {
		bad("events.top_k", "must be >= 1")
	}
	if c.Supervisor.BackoffInitial <= 0 || c.Supervisor.BackoffMax < c.Supervisor.BackoffInitial {
		bad("supervisor", "need 0 < backoff_initial <= backoff_max")
	}
	if c.Sinks.Buffer < 1 {
		bad("sinks.buffer", "must be >= 1")
	}
	if c.Sinks.JSONL.Enabled && c.Sinks.JSONL.Path == "" {
		bad("sinks.jsonl.path", "is required (\"-\" for stdout)")
	}
	if k := c.Sinks.Kafka; k.Enabled {
		if len(k.Brokers) == 0 {
			bad("sinks.kafka.brokers", "at least one broker is required")
		}
		if k.Topic == "" {
			bad("sinks.kafka.topic", "is required")
		}
		if k.BatchTimeout <= 0 {
			bad("sinks.kafka.batch_timeout", "must be > 0")
		}
	}
	if r := c.Sinks.Redis; r.Enabled {
		if r.Addr == "" {
			bad("sinks.redis.addr", "is required")
		}
		if r.TTL <= 0 {
			bad("sinks.redis.ttl", "must be > 0")
		}
	}
	if w := c.WHIP; w.Enabled {
		if w.MaxSessions < 1 {
			bad("whip.max_sessions", "must be >= 1")
		}
		if w.MaxSDPBytes < 1024 {
			bad("whip.max_sdp_bytes", "must be >= 1024")
		}
		if w.DisconnectTimeout.D() < 200*time.Millisecond {
			bad("whip.disconnect_timeout", "must be >= 200ms")
		}
		if len(w.Codecs) == 0 {
			bad("whip.codecs", "at least one of h264, vp8, vp9")
		}
		for i, codec := range w.Codecs {
			if codec != "h264" && codec != "vp8" && codec != "vp9" {
				bad(fmt.Sprintf("whip.codecs[%d]", i), "must be h264, vp8 or vp9, not %q", codec)
			}
		}
		if w.UDPPortMin < 0 || w.UDPPortMax > 65535 || w.UDPPortMin > w.UDPPortMax || (w.UDPPortMin == 0) != (w.UDPPortMax == 0) {
			bad("whip.udp_port_min", "udp_port_min..udp_port_max must both be set, 1..65535, min <= max (or both 0)")
		}
		for i, ip := range w.PublicIPs {
			if net.ParseIP(ip) == nil {
				bad(fmt.Sprintf("whip.public_ips[%d]", i), "%q is not an IP address", ip)
			}
		}
		for i, srv := range w.ICEServers {
			if len(srv.URLs) == 0 {
				bad(fmt.Sprintf("whip.ice_servers[%d].urls", i), "at least one stun:, turn: or turns: URL")
			}
			for j, u := range srv.URLs {
				if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
					bad(fmt.Sprintf("whip.ice_servers[%d].urls[%d]", i, j), "%q must start with stun:, turn: or turns:", u)
				}
			}
		}
		if w.TCPAddr != "" {
			if _, _, err := net.SplitHostPort(w.TCPAddr); err != nil {
				bad("whip.tcp_addr", "%q is not host:port", w.TCPAddr)
			}
		}
		if w.AllowOrigin == "" {
			bad("whip.allow_origin", "is required (\"*\" for any)")
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json, not %q", c.Log.Format)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be > 0")
	}
	return errors.Join(errs...)
}

// URLKind says which source serves a stream URL: "rtsp", "file", or "" for none.
func URLKind(u string) string {
	switch {
	case strings.HasPrefix(u, "rtsp://"), strings.HasPrefix(u, "rtsps://"):
		return "rtsp"
	case strings.HasPrefix(u, "file://"):
		return "file"
	case strings.Contains(u, "://"):
		return ""
	default:
		return "file"
	}
}

func validStreamID(id string) bool {
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return false
		}
	}
	return len(id) <= 128
}
