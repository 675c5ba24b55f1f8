// Package kafka delivers events to Kafka with segmentio/kafka-go.
//
// Each event is one record: the value is the CloudEvents JSON object (structured content mode of
// the CloudEvents Kafka protocol binding, hence the content-type header
// "application/cloudevents+json; charset=UTF-8"), the key is the stream id (Data.Stream), so one
// camera's events land in one partition in order. clip.scored goes to a topic of its own, and
// only when that topic is configured (it is one record per clip per stream).
//
// [New] returns the plain producer: the kafka-go writer runs asynchronously with a Completion
// callback that reports each partition batch's delivery result, and Write returns when every
// record is acknowledged (acks from all in-sync replicas) or failed. Behind the [sink.Buffered]
// wrapper that sink/sinks puts around every sink, failed events are retried with backoff until
// the broker acknowledges them or the Close deadline.
package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/sink"
)

// Config configures the Kafka sink: the `sinks.kafka` section. Zero fields take
// DefaultConfig's values, except Brokers and Topic, which New requires.
type Config struct {
	Brokers      []string         `yaml:"brokers"`       // bootstrap "host:port" list; required
	Topic        string           `yaml:"topic"`         // topic of every event type but clip.scored; required
	ClipTopic    string           `yaml:"clip_topic"`    // topic of clip.scored; "" = clip.scored is not produced (filtered out)
	BatchTimeout confkit.Duration `yaml:"batch_timeout"` // how long a partition batch waits for more records (kafka-go's own default is 1s)
	BatchSize    int              `yaml:"batch_size"`    // records per produce round and per partition batch
	BatchBytes   int64            `yaml:"batch_bytes"`   // bytes per partition batch; a larger event is rejected
	MaxAttempts  int              `yaml:"max_attempts"`  // kafka-go attempts per batch before Completion reports the error
	DialTimeout  confkit.Duration `yaml:"dial_timeout"`
	WriteTimeout confkit.Duration `yaml:"write_timeout"` // per produce request
	// MetadataTTL bounds how long cluster metadata is cached. kafka-go keeps the error of a
	// failed first lookup until the next refresh, so this is also how soon a broker that was
	// down when the daemon started is noticed to be back.
	MetadataTTL confkit.Duration `yaml:"metadata_ttl"`
	Topics      TopicsConfig     `yaml:"topics"` // creation of missing topics (topics.go)
	Logger      *slog.Logger     `yaml:"-"`
}

// DefaultConfig is the one definition of the Kafka sink's defaults (no brokers: they are
// required).
func DefaultConfig() Config {
	return Config{
		Topic: "actionstream.events", BatchTimeout: confkit.Duration(5 * time.Millisecond), BatchSize: 100, BatchBytes: 1 << 20,
		MaxAttempts: 3, DialTimeout: confkit.Duration(5 * time.Second), WriteTimeout: confkit.Duration(10 * time.Second),
		MetadataTTL: confkit.Duration(2 * time.Second),
	}
}

// Validate checks c after defaults; errors name the field by its YAML key and wrap ErrConfig.
func (c Config) Validate() error {
	p := confkit.Problems{Sentinel: ErrConfig}
	if len(c.Brokers) == 0 {
		p.Add("brokers", "at least one broker is required")
	}
	for i, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			p.Add(fmt.Sprintf("brokers[%d]", i), "is empty")
		}
	}
	if c.Topic == "" {
		p.Add("topic", "is required")
	}
	for _, f := range []struct {
		key string
		bad bool
	}{
		{"batch_timeout", c.BatchTimeout < 0}, {"batch_size", c.BatchSize < 0}, {"batch_bytes", c.BatchBytes < 0},
		{"max_attempts", c.MaxAttempts < 0}, {"dial_timeout", c.DialTimeout < 0}, {"write_timeout", c.WriteTimeout < 0},
		{"metadata_ttl", c.MetadataTTL < 0},
	} {
		if f.bad {
			p.Add(f.key, "must be > 0 (0 = default)")
		}
	}
	return p.Err()
}

func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.BatchTimeout == 0 {
		c.BatchTimeout = d.BatchTimeout
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = d.BatchBytes
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.MetadataTTL == 0 {
		c.MetadataTTL = d.MetadataTTL
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var err error
	if c.Topics, err = c.Topics.withDefaults(); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("kafka: %w", err)
	}
	return c, nil
}

// contentType is the record header of the CloudEvents Kafka binding, structured mode.
const contentType = "application/cloudevents+json; charset=UTF-8"

// Producer is the unbuffered Kafka sink.Sink: Write hands the events to an asynchronous kafka-go
// writer and returns when the Completion callback has reported every record.
//
// Order: Writes are serialised, and one Write sends at most BatchSize records and BatchBytes
// bytes per produce round, waiting for the round to complete before the next. So each
// partition gets at most one batch per round, a batch succeeds or fails whole, and a record
// that failed can be retried without a later record of the same stream having overtaken it.
// This trades some throughput (one round in flight) for per-stream order across retries;
// action events are rare and clip.scored is a few records per stream per second.
type Producer struct {
	cfg       Config
	w         *kafkago.Writer
	transport *kafkago.Transport // ours to close: kafka-go closes only transports it made
	mu        sync.Mutex         // serialises Write: one produce round in flight
	// topicsReady is set once EnsureTopics has found or created every topic (under mu).
	topicsReady bool
}

// New returns a Producer, a plain sink.Sink: put it behind a sink.Buffered (sink/sinks does)
// for retries and back-pressure. It does not contact the brokers: a broker that is down shows
// up as retryable Write errors.
func New(cfg Config) (*Producer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Producer{cfg: cfg, transport: &kafkago.Transport{
		DialTimeout: cfg.DialTimeout.D(),
		MetadataTTL: cfg.MetadataTTL.D(),
		ClientID:    "actionstream",
	}}
	p.w = &kafkago.Writer{
		Addr:         kafkago.TCP(cfg.Brokers...),
		Balancer:     &kafkago.Murmur2Balancer{}, // Java client's keyed partitioning
		MaxAttempts:  cfg.MaxAttempts,
		BatchSize:    cfg.BatchSize,
		BatchBytes:   cfg.BatchBytes,
		BatchTimeout: cfg.BatchTimeout.D(),
		ReadTimeout:  cfg.WriteTimeout.D(),
		WriteTimeout: cfg.WriteTimeout.D(),
		RequiredAcks: kafkago.RequireAll,
		Async:        true,
		Completion:   p.completion,
		Transport:    p.transport,
	}
	return p, nil
}

// round tracks the records of one produce round until Completion has reported all of them.
type round struct {
	mu   sync.Mutex
	errs []error // per record of the round
	left int
	done chan struct{}
}

// ref is a record's WriterData: which round and which record it is.
type ref struct {
	r   *round
	idx int
}

// completion is kafka-go's Completion callback, called once per partition batch.
func (p *Producer) completion(msgs []kafkago.Message, err error) {
	for i := range msgs {
		rf, ok := msgs[i].WriterData.(ref)
		if !ok {
			continue
		}
		rf.r.mu.Lock()
		if err != nil {
			rf.r.errs[rf.idx] = classify(fmt.Errorf("kafka: deliver to %s[%d]: %w", msgs[i].Topic, msgs[i].Partition, err))
		}
		rf.r.left--
		if rf.r.left == 0 {
			close(rf.r.done)
		}
		rf.r.mu.Unlock()
	}
}

// classify marks errors that no retry can fix as permanent. Everything else, including
// authorization and unknown-topic errors (an operator can fix those), stays retryable so the
// events wait in the buffer rather than being dropped.
func classify(err error) error {
	if errors.Is(err, kafkago.MessageSizeTooLarge) || errors.Is(err, kafkago.InvalidMessage) ||
		errors.Is(err, kafkago.InvalidRecord) || errors.Is(err, kafkago.InvalidTopic) {
		return sink.Permanent(err)
	}
	return err
}

// Write produces batch and waits for every record's acknowledgement. It returns nil when all are
// acknowledged by all in-sync replicas, else a sink.BatchError (events not attempted because an
// earlier round failed are reported as failed too, so order is kept), or ctx's error: records
// may then still be delivered later, and a retry would duplicate them with identical ids.
func (p *Producer) Write(ctx context.Context, batch []events.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.ensureTopicsLocked(ctx); err != nil {
		return err
	}
	var batchErr sink.BatchError
	for start := 0; start < len(batch); {
		end, errs, err := p.produceRound(ctx, batch[start:])
		if err != nil {
			return err
		}
		if errs != nil {
			batchErr = make(sink.BatchError, len(batch))
			copy(batchErr[start:], errs)
			next := fmt.Errorf("kafka: %w", ErrNotAttempted)
			for i := start + end; i < len(batch); i++ {
				batchErr[i] = next
			}
			return batchErr
		}
		start += end
	}
	return nil
}

// produceRound sends a prefix of batch that fits one round and waits for it. It returns the
// prefix length and, if any record failed, its per-record errors.
func (p *Producer) produceRound(ctx context.Context, batch []events.Event) (int, []error, error) {
	r := &round{done: make(chan struct{})}
	msgs := make([]kafkago.Message, 0, min(len(batch), p.cfg.BatchSize))
	var errs []error
	var bytes int64
	n := 0
	for n < len(batch) && len(msgs) < p.cfg.BatchSize {
		ev := &batch[n]
		if ev.Type == events.TypeClipScored && p.cfg.ClipTopic == "" {
			n++ // not wanted in Kafka: done, nothing to send
			continue
		}
		value, err := json.Marshal(ev)
		if err != nil {
			errs = ensure(errs, len(batch))
			errs[n] = sink.Permanent(fmt.Errorf("kafka: encode event %s: %w", ev.ID, err))
			n++
			continue
		}
		m := kafkago.Message{
			Topic:   p.topic(ev),
			Key:     []byte(ev.Data.Stream),
			Value:   value,
			Time:    ev.Time,
			Headers: []kafkago.Header{{Key: "content-type", Value: []byte(contentType)}},
		}
		size := recordSize(&m)
		if size > p.cfg.BatchBytes {
			errs = ensure(errs, len(batch))
			errs[n] = sink.Permanent(fmt.Errorf("kafka: event %s: %d bytes: %w", ev.ID, size, kafkago.MessageSizeTooLarge))
			n++
			continue
		}
		if bytes+size > p.cfg.BatchBytes {
			break
		}
		bytes += size
		m.WriterData = ref{r: r, idx: n}
		msgs = append(msgs, m)
		n++
	}
	if len(msgs) > 0 {
		r.errs = make([]error, n)
		r.left = len(msgs)
		// In async mode ctx only bounds the metadata lookup; bound it explicitly so a broker
		// that accepts connections but never answers cannot hang the round.
		mctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout.D()+p.cfg.WriteTimeout.D())
		err := p.w.WriteMessages(mctx, msgs...)
		cancel()
		if err != nil {
			// Async mode fails here only before anything is queued (metadata, validation).
			err = classify(fmt.Errorf("kafka: produce: %w", err))
			errs = ensure(errs, len(batch))
			for _, m := range msgs {
				errs[m.WriterData.(ref).idx] = err
			}
			return n, errs[:n], nil
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("kafka: waiting for acknowledgements: %w", ctx.Err())
		}
		for i, err := range r.errs {
			if err != nil {
				errs = ensure(errs, len(batch))
				errs[i] = err
			}
		}
	}
	if errs != nil {
		return n, errs[:n], nil
	}
	return n, nil, nil
}

func ensure(errs []error, n int) []error {
	if errs == nil {
		return make([]error, n)
	}
	return errs
}

// recordSize approximates a record's size in a batch (kafka-go's own check is on the same
// order: key, value, headers and a fixed overhead).
func recordSize(m *kafkago.Message) int64 {
	n := int64(len(m.Key) + len(m.Value) + 64)
	for _, h := range m.Headers {
		n += int64(len(h.Key) + len(h.Value) + 8)
	}
	return n
}

func (p *Producer) topic(ev *events.Event) string {
	if ev.Type == events.TypeClipScored {
		return p.cfg.ClipTopic
	}
	return p.cfg.Topic
}

// Close closes the kafka-go writer, which finishes the batches it holds (bounded by MaxAttempts
// and the timeouts). If ctx ends first Close returns its error; the writer finishes in the
// background.
func (p *Producer) Close(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		err := p.w.Close()
		p.transport.CloseIdleConnections()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("kafka: close writer: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kafka: close writer (brokers %s): %w", strings.Join(p.cfg.Brokers, ","), ctx.Err())
	}
}
