// Package sinks opens the configured sinks (JSON lines, Kafka, Redis). For `serve`,
// OpenDurable puts the durable outbox (sink/outbox) in front of them, with one delivery loop per
// sink; for `run`, Open puts each behind the one in-memory buffering wrapper, sink.Buffered. The
// sinks themselves are plain sink.Sinks. It is a package of its own because it imports the
// sinks, which import sink.
package sinks

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/jsonl"
	"github.com/actionstream/actionstream/sink/kafka"
	"github.com/actionstream/actionstream/sink/outbox"
	"github.com/actionstream/actionstream/sink/redis"
)

// Config is the `sinks` section; JSON lines to stdout unless configured otherwise.
type Config struct {
	// Buffer is how many events may wait for each slow or down sink before producers block.
	// It applies where no outbox is used (`run`, and sinks a caller supplies).
	Buffer int   `yaml:"buffer"`
	JSONL  JSONL `yaml:"jsonl"`
	Kafka  Kafka `yaml:"kafka"`
	Redis  Redis `yaml:"redis"`
	// Outbox is the durable queue `serve` puts in front of the sinks (OpenDurable).
	Outbox outbox.Config `yaml:"outbox"`
	// DownGrace is how long a sink may fail before the daemon reports not ready.
	DownGrace confkit.Duration `yaml:"down_grace"`
}

// JSONL writes one JSON event per line.
type JSONL struct {
	Enabled bool   `yaml:"enabled"`
	Path    string `yaml:"path"` // "-" = stdout
}

// Kafka produces events with acks from all replicas.
type Kafka struct {
	Enabled      bool `yaml:"enabled"`
	kafka.Config `yaml:",inline"`
}

// Redis keeps each stream's current state, and optionally a stream of events.
type Redis struct {
	Enabled      bool `yaml:"enabled"`
	redis.Config `yaml:",inline"`
}

// DefaultConfig is the section's defaults: the sinks' own, JSON lines to stdout enabled.
func DefaultConfig() Config {
	return Config{
		Buffer: sink.DefaultBufferConfig().Capacity,
		JSONL:  JSONL{Enabled: true, Path: "-"},
		Kafka:  Kafka{Config: kafka.DefaultConfig()},
		Redis:  Redis{Config: redis.DefaultConfig()},
		Outbox: outbox.DefaultConfig(),
		// Long enough for a broker's rolling restart, short enough to page on an outage.
		DownGrace: confkit.Duration(30 * time.Second),
	}
}

// Validate checks the section; a disabled sink is not checked. Errors name the field by its
// YAML key under the section ("kafka.brokers").
func (c Config) Validate() error {
	var p confkit.Problems
	if c.Buffer < 1 {
		p.Add("buffer", "must be >= 1")
	}
	if c.DownGrace <= 0 {
		p.Add("down_grace", "must be > 0")
	}
	p.Nest("outbox", c.Outbox.Validate())
	if c.JSONL.Enabled && c.JSONL.Path == "" {
		p.Add("jsonl.path", "is required (\"-\" for stdout)")
	}
	if c.Kafka.Enabled {
		p.Nest("kafka", c.Kafka.Validate())
	}
	if c.Redis.Enabled {
		p.Nest("redis", c.Redis.Validate())
	}
	return p.Err()
}

// Set is the open sinks, each behind its buffer, in the order jsonl, kafka, redis.
type Set struct {
	Sinks []*sink.Buffered
	// Redis is the Redis sink for stream state (UpdateStream); nil unless enabled.
	Redis *redis.Sink
}

// plain is one opened sink, not yet buffered or fed from the outbox.
type plain struct {
	name string
	s    sink.Sink
	// ensure, if set, runs once before delivery starts (Kafka's topic check).
	ensure func(context.Context) error
}

// openPlain opens every enabled sink, in the order jsonl, kafka, redis; redis is also returned
// for stream state. The error names the section that failed; sinks already opened are closed.
func openPlain(c Config, log *slog.Logger) ([]plain, *redis.Sink, error) {
	var out []plain
	var rs *redis.Sink
	fail := func(section string, err error) ([]plain, *redis.Sink, error) {
		closePlain(out)
		return nil, nil, fmt.Errorf("sinks.%s: %w", section, err)
	}
	if c.JSONL.Enabled {
		js, err := jsonl.Open(c.JSONL.Path)
		if err != nil {
			return fail("jsonl.path", err)
		}
		out = append(out, plain{name: "jsonl", s: js})
	}
	if c.Kafka.Enabled {
		kc := c.Kafka.Config
		kc.Logger = log
		k, err := kafka.New(kc)
		if err != nil {
			return fail("kafka", err)
		}
		out = append(out, plain{name: "kafka", s: k, ensure: k.EnsureTopics})
	}
	if c.Redis.Enabled {
		rc := c.Redis.Config
		rc.Logger = log
		r, err := redis.New(rc)
		if err != nil {
			return fail("redis", err)
		}
		out = append(out, plain{name: "redis", s: r})
		rs = r
	}
	return out, rs, nil
}

// closePlain closes sinks that were opened but never written to.
func closePlain(ps []plain) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, p := range ps {
		_ = p.s.Close(ctx) // nothing was written yet
	}
}

// Open opens every enabled sink, each behind its buffer. The error names the section that
// failed; sinks already opened are closed again.
func Open(c Config, log *slog.Logger) (Set, error) {
	if log == nil {
		log = slog.Default()
	}
	ps, rs, err := openPlain(c, log)
	if err != nil {
		return Set{}, err
	}
	set := Set{Redis: rs}
	for _, p := range ps {
		set.Sinks = append(set.Sinks, Buffer(p.name, p.s, c.Buffer, log))
	}
	return set, nil
}

// Buffer puts s behind the one buffering wrapper every sink gets: capacity events (0 = the
// default) wait there while s is slow or down, retried with backoff.
func Buffer(name string, s sink.Sink, capacity int, log *slog.Logger) *sink.Buffered {
	return sink.NewBuffered(s, sink.BufferConfig{Name: name, Capacity: capacity, Logger: log})
}

// Fanout is every sink of the set as one sink.
func (s Set) Fanout() *sink.Fanout {
	out := make([]sink.Sink, len(s.Sinks))
	for i, b := range s.Sinks {
		out[i] = b
	}
	return sink.NewFanout(out...)
}
