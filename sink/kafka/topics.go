package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	kafkago "github.com/segmentio/kafka-go"
)

// TopicsConfig says how the sink makes sure its topics exist. By default it creates a missing
// topic before producing to it (brokers usually run with auto-creation off, and kafka-go never
// asks for it). Zero fields take the defaults shown.
type TopicsConfig struct {
	// NoCreate turns creation off: a missing topic is then an error naming it, returned by
	// EnsureTopics and by every Write until an operator creates the topic (the events wait).
	NoCreate bool `yaml:"no_create"`
	// Partitions of a created topic; default -1: the broker's num.partitions.
	Partitions int `yaml:"partitions"`
	// ReplicationFactor of a created topic; default -1: the broker's
	// default.replication.factor. Production clusters want 3.
	ReplicationFactor int `yaml:"replication_factor"`
}

func (c TopicsConfig) withDefaults() (TopicsConfig, error) {
	if c.Partitions == 0 {
		c.Partitions = -1
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.Partitions < -1 || c.ReplicationFactor < -1 {
		return c, fmt.Errorf("kafka: %w: topics: partitions %d and replication factor %d must be positive (or unset for the broker's default)",
			ErrConfig, c.Partitions, c.ReplicationFactor)
	}
	return c, nil
}

// topics returns the topics this sink produces to.
func (p *Producer) topics() []string {
	ts := []string{p.cfg.Topic}
	if p.cfg.ClipTopic != "" && p.cfg.ClipTopic != p.cfg.Topic {
		ts = append(ts, p.cfg.ClipTopic)
	}
	return ts
}

// EnsureTopics checks that the sink's topics exist and, unless Topics.NoCreate, creates the
// missing ones; with creation off a missing topic is an error wrapping ErrTopicMissing that
// names it. Write calls it until it succeeds once; call it at start to report problems early.
// Every error is retryable (a broker that is down, a topic an operator has yet to create).
func (p *Producer) EnsureTopics(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ensureTopicsLocked(ctx)
}

func (p *Producer) ensureTopicsLocked(ctx context.Context) error {
	if p.topicsReady {
		return nil
	}
	// A transport of its own: the writer's caches metadata, and must not remember a topic as
	// missing after it has been created here.
	tr := &kafkago.Transport{DialTimeout: p.cfg.DialTimeout.D(), ClientID: "actionstream"}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(p.cfg.Brokers...), Timeout: (p.cfg.DialTimeout + p.cfg.WriteTimeout).D(), Transport: tr}
	brokers := strings.Join(p.cfg.Brokers, ",")

	want := p.topics()
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: want})
	if err != nil {
		return fmt.Errorf("kafka: check topics %q on brokers %s: %w", want, brokers, err)
	}
	var missing []string
	for _, name := range want {
		i := slices.IndexFunc(md.Topics, func(t kafkago.Topic) bool { return t.Name == name })
		switch {
		case i < 0 || errors.Is(md.Topics[i].Error, kafkago.UnknownTopicOrPartition):
			missing = append(missing, name)
		case md.Topics[i].Error != nil:
			return fmt.Errorf("kafka: topic %q on brokers %s: %w", name, brokers, md.Topics[i].Error)
		}
	}
	if len(missing) == 0 {
		p.topicsReady = true
		return nil
	}
	if p.cfg.Topics.NoCreate {
		return fmt.Errorf("kafka: %w: topic %q on brokers %s, and topic creation is off: create it or turn creation on",
			ErrTopicMissing, missing[0], brokers)
	}
	req := &kafkago.CreateTopicsRequest{}
	for _, name := range missing {
		req.Topics = append(req.Topics, kafkago.TopicConfig{
			Topic: name, NumPartitions: p.cfg.Topics.Partitions, ReplicationFactor: p.cfg.Topics.ReplicationFactor,
		})
	}
	res, err := cl.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: create topics %q on brokers %s: %w", missing, brokers, err)
	}
	for _, name := range missing {
		if err := res.Errors[name]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %q (partitions %d, replication factor %d) on brokers %s: %w",
				name, p.cfg.Topics.Partitions, p.cfg.Topics.ReplicationFactor, brokers, err)
		}
		p.cfg.Logger.Info("kafka topic created", "component", "sink", "sink", "kafka", "topic", name,
			"partitions", p.cfg.Topics.Partitions, "replication_factor", p.cfg.Topics.ReplicationFactor)
	}
	p.topicsReady = true
	return nil
}
