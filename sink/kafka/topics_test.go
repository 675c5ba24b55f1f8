package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/kafka"
)

// emptyBroker starts a kfake broker with no topics and auto-creation off (kfake's default,
// like a production broker with auto.create.topics.enable=false).
func emptyBroker(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// partitions returns the partition count of each topic the broker has.
func partitions(t *testing.T, addr string) map[string]int {
	t.Helper()
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	md, err := (&kafkago.Client{Addr: kafkago.TCP(addr), Transport: tr}).Metadata(context.Background(), &kafkago.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, tp := range md.Topics {
		if tp.Error == nil {
			out[tp.Name] = len(tp.Partitions)
		}
	}
	return out
}

// syncBuffer is a log destination tests can read while the sink writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEmptyBrokerGetsTheTopicsCreatedAndEveryEvent(t *testing.T) {
	sinktest.CheckGoroutines(t)
	addr := emptyBroker(t)
	if got := partitions(t, addr); len(got) != 0 {
		t.Fatalf("the broker should start empty, has %v", got)
	}
	var logs syncBuffer
	cfg := testConfig(addr)
	cfg.Topics = kafka.TopicsConfig{Partitions: 3}
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	written := sinktest.Interleave(sinktest.Stream("cam-1", 40), sinktest.Stream("cam-2", 40))
	if err := s.Write(context.Background(), written); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := partitions(t, addr); got[eventsTopic] != 3 || got[clipsTopic] != 3 {
		t.Fatalf("topics on the broker: %v, want %s and %s with 3 partitions", got, eventsTopic, clipsTopic)
	}
	checkRecords(t, sinktest.ConsumeKafka(t, addr, []string{eventsTopic, clipsTopic}, len(written)), written)
	for _, topic := range []string{eventsTopic, clipsTopic} {
		if !strings.Contains(logs.String(), `msg="kafka topic created" component=sink sink=kafka topic=`+topic+" partitions=3") {
			t.Errorf("no log line for the creation of %s:\n%s", topic, logs.String())
		}
	}
}

func TestExistingTopicIsKeptAndTheMissingOneCreated(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, eventsTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	p, err := kafka.New(testConfig(addr)) // broker defaults: kfake's 10 partitions
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if err := p.EnsureTopics(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := partitions(t, addr); got[eventsTopic] != 2 || got[clipsTopic] != 10 {
		t.Fatalf("topics %v: want %s untouched (2) and %s with the broker's default (10)", got, eventsTopic, clipsTopic)
	}
}

func TestCreationOffNamesTheMissingTopic(t *testing.T) {
	sinktest.CheckGoroutines(t)
	addr := emptyBroker(t)
	cfg := testConfig(addr)
	cfg.Topics.NoCreate = true
	p, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = p.EnsureTopics(context.Background())
	want := `kafka: topic does not exist: topic "actions" on brokers ` + addr + `, and topic creation is off: create it or turn creation on`
	if !errors.Is(err, kafka.ErrTopicMissing) || err.Error() != want {
		t.Fatalf("EnsureTopics:\n got %v\nwant %s", err, want)
	}
	if err := p.Write(context.Background(), sinktest.Stream("cam", 1)); !errors.Is(err, kafka.ErrTopicMissing) {
		t.Fatalf("Write with the topic missing: %v", err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := partitions(t, addr); len(got) != 0 {
		t.Fatalf("creation is off, yet the broker has %v", got)
	}

	// Behind the buffer, what the operator sees is the log line naming the topic.
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	inner, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := sink.NewBuffered(inner, sink.BufferConfig{Name: "kafka", Logger: cfg.Logger})
	if err := s.Write(context.Background(), sinktest.Stream("cam", 3)); err != nil {
		t.Fatal(err)
	}
	sinktest.WaitFor(t, "a failed delivery", func() bool { return s.Stats().Errors > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); err == nil {
		t.Fatal("Close delivered to a topic that does not exist")
	}
	if line := logs.String(); !strings.Contains(line, `msg="sink delivery failing; retrying"`) || !strings.Contains(line, `topic \"actions\" on brokers `+addr+`, and topic creation is off`) {
		t.Fatalf("log does not name the missing topic:\n%s", line)
	}
}

func TestImpossibleReplicationFactorIsReportedWithTheTopic(t *testing.T) {
	addr := emptyBroker(t)
	cfg := testConfig(addr)
	cfg.Topics.ReplicationFactor = 3 // one broker
	p, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	err = p.EnsureTopics(context.Background())
	if err == nil || !strings.Contains(err.Error(), `kafka: create topic "actions" (partitions -1, replication factor 3) on brokers `+addr) ||
		!errors.Is(err, kafkago.InvalidReplicationFactor) {
		t.Fatalf("EnsureTopics with replication factor 3 on one broker: %v", err)
	}
}

func TestTopicsConfigRejectsNegativeCounts(t *testing.T) {
	cfg := testConfig("127.0.0.1:9")
	cfg.Topics.Partitions = -4
	if _, err := kafka.New(cfg); !errors.Is(err, kafka.ErrConfig) || !strings.Contains(err.Error(), "partitions -4") {
		t.Fatalf("NewProducer with -4 partitions: %v", err)
	}
}
