package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/kafka"
)

const (
	eventsTopic = "actions"
	clipsTopic  = "clips"
)

// checkRecords validates every record against the contract and the sink's promises: key =
// stream id, clip.scored on its own topic, content-type header, duplicates only as identical
// copies, and per (topic, stream) the sequence of first occurrences equal to what was written.
func checkRecords(t *testing.T, recs []sinktest.Record, written []events.Event) (dups int) {
	t.Helper()
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	})
	type ts struct{ topic, stream string }
	wantSeq := map[ts][]string{}
	for _, ev := range written {
		topic := eventsTopic
		if ev.Type == events.TypeClipScored {
			topic = clipsTopic
		}
		k := ts{topic, ev.Data.Stream}
		wantSeq[k] = append(wantSeq[k], ev.ID)
	}
	seen := map[string][]byte{}
	gotSeq := map[ts][]string{}
	streamPartition := map[ts]int32{}
	for _, r := range recs {
		ev, err := events.ParseJSON(r.Value)
		if err != nil {
			t.Fatalf("%s[%d]@%d: %v", r.Topic, r.Partition, r.Offset, err)
		}
		if r.Key != ev.Data.Stream {
			t.Fatalf("record key %q, want the stream id %q", r.Key, ev.Data.Stream)
		}
		if ct := r.Headers["content-type"]; ct != "application/cloudevents+json; charset=UTF-8" {
			t.Fatalf("content-type header %q", ct)
		}
		if (ev.Type == events.TypeClipScored) != (r.Topic == clipsTopic) {
			t.Fatalf("event %s of type %s on topic %s", ev.ID, ev.Type, r.Topic)
		}
		k := ts{r.Topic, ev.Data.Stream}
		if p, ok := streamPartition[k]; ok && p != r.Partition {
			t.Fatalf("stream %s on partitions %d and %d of %s", k.stream, p, r.Partition, k.topic)
		}
		streamPartition[k] = r.Partition
		if prev, ok := seen[ev.ID]; ok {
			if !bytes.Equal(prev, r.Value) {
				t.Fatalf("event id %s delivered twice with different contents", ev.ID)
			}
			dups++
			continue
		}
		seen[ev.ID] = r.Value
		gotSeq[k] = append(gotSeq[k], ev.ID)
	}
	if len(seen) != len(written) {
		t.Fatalf("%d distinct events consumed, %d written", len(seen), len(written))
	}
	for k, want := range wantSeq {
		if !slices.Equal(gotSeq[k], want) {
			t.Fatalf("topic %s stream %s: order or content differs:\n got %v\nwant %v", k.topic, k.stream, gotSeq[k], want)
		}
	}
	return dups
}

func testConfig(addr string) kafka.Config {
	return kafka.Config{
		Brokers:      []string{addr},
		Topic:        eventsTopic,
		ClipTopic:    clipsTopic,
		BatchTimeout: confkit.Duration(5 * time.Millisecond),
		BatchSize:    50,
		DialTimeout:  confkit.Duration(time.Second),
		WriteTimeout: confkit.Duration(2 * time.Second),
	}
}

// buffered is the producer behind the buffer the daemon puts around every sink, with fast
// retries for the tests.
func buffered(cfg kafka.Config) (*sink.Buffered, error) {
	p, err := kafka.New(cfg)
	if err != nil {
		return nil, err
	}
	return sink.NewBuffered(p, sink.BufferConfig{Name: "kafka", Capacity: 5000, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond}), nil
}

func TestEveryEventConsumedBackInOrderWithAcksAll(t *testing.T) {
	sinktest.CheckGoroutines(t)
	b := sinktest.StartKafka(t, eventsTopic, clipsTopic)
	s, err := buffered(testConfig(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	written := sinktest.Interleave(sinktest.Stream("cam-1", 120), sinktest.Stream("cam-2", 120), sinktest.Stream("lobby", 120))
	ctx := context.Background()
	for i := 0; i < len(written); i += 9 {
		if err := s.Write(ctx, written[i:min(i+9, len(written))]); err != nil {
			t.Fatal(err)
		}
	}
	closeCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Delivered != uint64(len(written)) || st.Errors != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if dups := checkRecords(t, sinktest.ConsumeKafka(t, b.Addr(), []string{eventsTopic, clipsTopic}, len(written)), written); dups != 0 {
		t.Fatalf("%d duplicates without any failure", dups)
	}
	acks := b.ProduceAcks()
	if len(acks) != 1 || acks[-1] == 0 {
		t.Fatalf("produce requests by acks: %v, want all with acks=-1 (all replicas)", acks)
	}
}

func TestBatchTimeoutIsMilliseconds(t *testing.T) {
	b := sinktest.StartKafka(t, eventsTopic, clipsTopic)
	p, err := kafka.New(testConfig(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	evs := sinktest.Stream("cam", 6)
	// Warm up (metadata, connection), then time single-event round trips: a partial batch must
	// leave after BatchTimeout (5ms), not kafka-go's default of one second.
	if err := p.Write(context.Background(), evs[:1]); err != nil {
		t.Fatal(err)
	}
	var times []time.Duration
	for i := 1; i < len(evs); i++ {
		start := time.Now()
		if err := p.Write(context.Background(), evs[i:i+1]); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	if med := times[len(times)/2]; med > 500*time.Millisecond {
		t.Fatalf("median acknowledged write of one event took %v (%v)", med, times)
	}
}

func TestBrokerRestartMidRunLosesNothing(t *testing.T) {
	sinktest.CheckGoroutines(t)
	b := sinktest.StartKafka(t, eventsTopic, clipsTopic)
	s, err := buffered(testConfig(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	const perStream = 150
	streams := []string{"cam-1", "cam-2", "cam-3", "dock"}
	var seqs [][]events.Event
	for _, name := range streams {
		seqs = append(seqs, sinktest.Stream(name, perStream))
	}
	written := sinktest.Interleave(seqs...)
	ctx := context.Background()
	write := func(from, to int) {
		for i := from; i < to; i += 4 {
			if err := s.Write(ctx, written[i:min(i+4, to)]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	third := len(written) / 3

	write(0, third)
	sinktest.WaitFor(t, "first third delivered", func() bool { return s.Stats().Delivered >= uint64(third/2) })
	b.Stop()
	// While the broker is down, Write keeps accepting (the buffer absorbs) and delivery fails.
	write(third, 2*third)
	sinktest.WaitFor(t, "delivery failures noticed", func() bool { st := s.Stats(); return st.Errors > 0 && !st.Up })
	down := s.Stats()
	if down.Buffered == 0 {
		t.Fatalf("nothing buffered while the broker is down: %+v", down)
	}
	time.Sleep(300 * time.Millisecond)
	b.Start()
	write(2*third, len(written))

	closeCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Close(closeCtx); err != nil {
		t.Fatalf("Close: %v (stats %+v)", err, s.Stats())
	}
	st := s.Stats()
	if st.Delivered != uint64(len(written)) || st.Rejected != 0 || st.Undelivered != 0 || st.Retries == 0 {
		t.Fatalf("stats: %+v", st)
	}
	dups := checkRecords(t, sinktest.ConsumeKafka(t, b.Addr(), []string{eventsTopic, clipsTopic}, len(written)), written)
	t.Logf("%d events, %d failed attempts, %d retries, %d duplicates (identical ids and contents)", len(written), st.Errors, st.Retries, dups)
}

func TestClipScoredNotProducedWithoutClipTopic(t *testing.T) {
	sinktest.CheckGoroutines(t)
	b := sinktest.StartKafka(t, eventsTopic, clipsTopic)
	cfg := testConfig(b.Addr())
	cfg.ClipTopic = ""
	s, err := buffered(cfg)
	if err != nil {
		t.Fatal(err)
	}
	all := sinktest.Stream("cam", 40)
	if err := s.Write(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var want []events.Event
	for _, ev := range all {
		if ev.Type != events.TypeClipScored {
			want = append(want, ev)
		}
	}
	if len(want) == len(all) {
		t.Fatal("fixture has no clip.scored event")
	}
	recs := sinktest.ConsumeKafka(t, b.Addr(), []string{eventsTopic, clipsTopic}, len(want))
	checkRecords(t, recs, want)
}

func TestOversizedEventIsRejectedNotRetried(t *testing.T) {
	b := sinktest.StartKafka(t, eventsTopic, clipsTopic)
	cfg := testConfig(b.Addr())
	cfg.BatchBytes = 4096
	p, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	evs := sinktest.Stream("cam", 3)
	evs[1].Data.Reason = string(make([]byte, 8000))
	err = p.Write(context.Background(), evs)
	var be sink.BatchError
	if !errors.As(err, &be) || be[0] != nil || !sink.IsPermanent(be[1]) || be[2] != nil {
		t.Fatalf("Write: %#v, want only event 1 rejected permanently", err)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := kafka.New(kafka.Config{Topic: "x"}); !errors.Is(err, kafka.ErrConfig) {
		t.Fatalf("no brokers: %v", err)
	}
	if _, err := kafka.New(kafka.Config{Brokers: []string{"127.0.0.1:1"}}); !errors.Is(err, kafka.ErrConfig) {
		t.Fatalf("no topic: %v", err)
	}
}

func TestSilentBrokerGivesRetryableErrorNotAHang(t *testing.T) {
	sinktest.CheckGoroutines(t)
	// A "broker" that accepts connections and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	accepted := make(chan net.Conn, 16)
	conns.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	})
	t.Cleanup(func() {
		l.Close()
		conns.Wait()
		close(accepted)
		for c := range accepted {
			c.Close()
		}
	})

	cfg := testConfig(l.Addr().String())
	cfg.DialTimeout, cfg.WriteTimeout = confkit.Duration(100*time.Millisecond), confkit.Duration(200*time.Millisecond)
	p, err := kafka.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Write(context.Background(), sinktest.Stream("cam", 3))
	if err == nil || sink.IsPermanent(err) {
		t.Fatalf("Write to a silent broker: %v, want a retryable error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Write took %v", d)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCloseDeadlineWithBrokerDownReportsUndelivered(t *testing.T) {
	sinktest.CheckGoroutines(t)
	b := sinktest.StartKafka(t, eventsTopic, clipsTopic)
	s, err := buffered(testConfig(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	b.Stop()
	if err := s.Write(context.Background(), sinktest.Stream("cam", 10)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Close(ctx)
	if !errors.Is(err, sink.ErrUndelivered) {
		t.Fatalf("Close with the broker down: %v, want ErrUndelivered", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v with a 300ms deadline", d)
	}
	if st := s.Stats(); st.Undelivered != 10 || st.Delivered != 0 {
		t.Fatalf("stats: %+v", st)
	}
}
