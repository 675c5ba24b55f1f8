// Package configs is the typed configuration of actionstream. Each stage package owns its
// section (type, defaults, validation); configs composes them and adds the daemon's own few
// keys. It loads in one fixed order — defaults, then a YAML file, then ACTIONSTREAM_*
// environment variables — and validates the result, naming the field path in every error.
package configs

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/actionstream/actionstream/clipper"
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
	Events     events.Config         `yaml:"events"`
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
		Model:           infer.DefaultModelConfig(),
		Decode:          decode.DefaultLimits(),
		Clipper:         clipper.DefaultSpacing(),
		Batcher:         infer.DefaultBatcherConfig(),
		Events:          events.DefaultConfig(),
		Supervisor:      ingest.DefaultBackoff(),
		Sinks:           sinks.DefaultConfig(),
		HTTP:            HTTP{Addr: "127.0.0.1:8080"},
		WHIP:            WHIP{Enabled: true, Config: whip.DefaultConfig()},
		Web:             Web{Enabled: true},
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
	p.Nest("events", c.Events.Validate())
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
