package pipeline

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/rtspcam"
	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// TestProductionShape runs the production shape end to end: an RTSP camera in, events to a
// Kafka-protocol broker (kfake) and a real redis-server. The broker is stopped and started again
// mid-run. Every event the pipeline emitted is consumed back from Kafka (keyed by stream, valid
// CloudEvents) and is in the Redis Stream, and the stream's state hash is current.
func TestProductionShape(t *testing.T) {
	model := testkit.TinyModel(t)
	aus, sps, pps := rtspcam.H264AccessUnits(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t)))
	cam := rtspcam.Start(t, addr, 0, aus, sps, pps)
	defer cam.Close()
	kafka := sinktest.StartKafka(t, "actionstream.events", "actionstream.clips")
	redis := sinktest.StartRedis(t)

	cfg := configs.Default()
	cfg.Model.Path = model
	cfg.Model.Runtime.Threads = 1
	cfg.HTTP.Addr = ""
	cfg.Events.ClipScored = true
	cfg.Streams = []configs.Stream{{ID: "lobby", URL: "rtsp://" + addr + "/cam", Transport: "tcp"}}
	cfg.Sinks.JSONL.Enabled = false
	cfg.Sinks.Kafka.Enabled, cfg.Sinks.Kafka.Brokers = true, []string{kafka.Addr()}
	cfg.Sinks.Kafka.Topic, cfg.Sinks.Kafka.ClipTopic = "actionstream.events", "actionstream.clips"
	cfg.Sinks.Kafka.BatchTimeout = configs.Duration(5 * time.Millisecond)
	cfg.Sinks.Redis.Enabled, cfg.Sinks.Redis.Addr, cfg.Sinks.Redis.KeyPrefix = true, redis.Addr(), "as:"
	cfg.Sinks.Redis.StateTTL, cfg.Sinks.Redis.Stream = configs.Duration(time.Minute), "as:events"
	cfg.ShutdownTimeout = configs.Duration(30 * time.Second)
	cfg.StateDir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	emitted, unsubscribe := p.Subscribe(10000)
	defer unsubscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	clips := func() uint64 {
		if ss := p.Streams(); len(ss) == 1 {
			return ss[0].Clips
		}
		return 0
	}
	testutil.WaitFor(t, 20*time.Second, func() bool { return clips() >= 3 }, testutil.Says("clips"))
	kafka.Stop()
	mid := clips()
	testutil.WaitFor(t, 20*time.Second, func() bool { return clips() >= mid+3 }, testutil.Says("clips while Kafka is down"))
	kafka.Start()
	mid = clips()
	testutil.WaitFor(t, 20*time.Second, func() bool { return clips() >= mid+2 }, testutil.Says("clips after Kafka is back"))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	var want []events.Event
	for len(emitted) > 0 {
		want = append(want, <-emitted)
	}
	if len(want) < 8 {
		t.Fatalf("only %d events emitted", len(want))
	}
	recs := sinktest.ConsumeKafka(t, kafka.Addr(), []string{"actionstream.events", "actionstream.clips"}, len(want))
	got := map[string]string{} // id -> topic
	for _, r := range recs {
		e, err := events.ParseJSON(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if r.Key != e.Data.Stream {
			t.Errorf("record key %q, stream %q", r.Key, e.Data.Stream)
		}
		got[e.ID] = r.Topic
	}
	for _, e := range want {
		topic, ok := got[e.ID]
		switch {
		case !ok:
			t.Errorf("%s %s never reached Kafka", e.Type, e.ID)
		case (e.Type == events.TypeClipScored) != (topic == "actionstream.clips"):
			t.Errorf("%s went to topic %s", e.Type, topic)
		}
	}

	rc := redis.Client(t)
	bg := context.Background()
	entries, err := rc.XRange(bg, "as:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	inRedis := map[string]bool{}
	for _, x := range entries {
		for _, v := range x.Values {
			if s, ok := v.(string); ok {
				if e, err := events.ParseJSON([]byte(s)); err == nil {
					inRedis[e.ID] = true
				}
			}
		}
	}
	for _, e := range want {
		if !inRedis[e.ID] {
			t.Errorf("%s %s missing from the Redis Stream (%d entries)", e.Type, e.ID, len(entries))
			break
		}
	}
	state, err := rc.HGetAll(bg, "as:stream:lobby").Result()
	if err != nil || state["model"] != "tiny" || state["status"] == "" {
		t.Errorf("state hash %v (%v)", state, err)
	}
	if ttl, err := rc.TTL(bg, "as:stream:lobby").Result(); err != nil || ttl <= 0 {
		t.Errorf("state hash TTL %v (%v)", ttl, err)
	}
}
