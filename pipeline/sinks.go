package pipeline

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/jsonl"
	"github.com/actionstream/actionstream/sink/kafka"
)

// openSinks builds the configured sinks, each behind its own bounded buffer so one that is
// down holds back no other until its buffer is full.
func openSinks(c configs.Sinks, log *slog.Logger) ([]sink.Sink, *redisState, error) {
	var out []sink.Sink
	var state *redisState
	buf := func(name string) sink.BufferConfig {
		return sink.BufferConfig{Name: name, Capacity: c.Buffer, Logger: log}
	}
	if c.JSONL.Enabled {
		var js *jsonl.Sink
		if c.JSONL.Path == "-" {
			js = jsonl.New(os.Stdout)
		} else {
			var err error
			if js, err = jsonl.Open(c.JSONL.Path); err != nil {
				return nil, nil, fmt.Errorf("sinks.jsonl.path: %w", err)
			}
		}
		out = append(out, sink.NewBuffered(js, buf("jsonl")))
	}
	if c.Kafka.Enabled {
		k, err := kafka.New(kafka.Config{Brokers: c.Kafka.Brokers, Topic: c.Kafka.Topic, ClipTopic: c.Kafka.ClipTopic,
			BatchTimeout: c.Kafka.BatchTimeout.D(), Buffer: buf("kafka"), Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("sinks.kafka: %w", err)
		}
		out = append(out, k)
	}
	if c.Redis.Enabled {
		r, st, err := openRedis(c.Redis, buf("redis"), log)
		if err != nil {
			return nil, nil, fmt.Errorf("sinks.redis: %w", err)
		}
		out = append(out, r)
		state = st
	}
	return out, state, nil
}
