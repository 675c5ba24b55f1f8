package sink_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/jsonl"
	"github.com/actionstream/actionstream/sink/kafka"
	"github.com/actionstream/actionstream/sink/redis"
)

// The daemon's composition with real destinations: a file, a Kafka broker that is down at first,
// and a Redis server. The file and Redis get every event while Kafka is down; Kafka gets them all,
// in order, once it is back; nothing is lost anywhere.
func TestFanoutOfRealSinksWithKafkaDown(t *testing.T) {
	sinktest.CheckGoroutines(t)
	broker := sinktest.StartKafka(t, "actions")
	rds := sinktest.StartRedis(t)
	path := filepath.Join(t.TempDir(), "events.jsonl")
	buf := func(name string) sink.BufferConfig {
		return sink.BufferConfig{Name: name, Capacity: 1000, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
	}

	js, err := jsonl.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := kafka.New(kafka.Config{Brokers: []string{broker.Addr()}, Topic: "actions", DialTimeout: confkit.Duration(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := redis.New(redis.Config{Addr: rds.Addr(), Stream: "events"})
	if err != nil {
		t.Fatal(err)
	}
	// Every sink is plain; each gets the same wrapper, as sink/sinks does.
	ks := sink.NewBuffered(kp, buf("kafka"))
	f := sink.NewFanout(sink.NewBuffered(js, buf("jsonl")), ks, sink.NewBuffered(rp, buf("redis")))

	broker.Stop()
	var all []events.Event
	for _, s := range []string{"cam-1", "cam-2", "cam-3"} {
		all = append(all, sinktest.Stream(s, 40)...)
	}
	all = sinktest.Interleave(all[:40], all[40:80], all[80:])
	for i := 0; i < len(all); i += 5 {
		if err := f.Write(context.Background(), all[i:i+5]); err != nil {
			t.Fatal(err)
		}
	}
	n := uint64(len(all))
	sinktest.WaitFor(t, "file and Redis to get everything", func() bool {
		st := f.Stats()
		return st[0].Delivered == n && st[2].Delivered == n
	})
	sinktest.WaitFor(t, "Kafka failures to show", func() bool { st := ks.Stats(); return st.Errors > 0 && !st.Up })
	if st := ks.Stats(); st.Buffered != len(all) {
		t.Fatalf("kafka while down: %+v", st)
	}

	t0 := time.Now()
	broker.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// A broker down at start-up is noticed back within the metadata TTL (2s) plus backoff.
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("Kafka took %v to recover after the broker came back", d)
	}
	for _, st := range sink.AllStats(f) {
		if st.Delivered != n || st.Buffered != 0 {
			t.Errorf("%s: %+v", st.Name, st)
		}
	}

	perStream := func(evs []events.Event) map[string][]string {
		m := map[string][]string{}
		for _, ev := range evs {
			m[ev.Data.Stream] = append(m[ev.Data.Stream], ev.ID)
		}
		return m
	}
	check := func(name string, got, sent []events.Event) {
		t.Helper()
		want, g := perStream(sent), perStream(got)
		for s, ids := range want {
			if len(g[s]) != len(ids) {
				t.Fatalf("%s: stream %s has %d events, want %d", name, s, len(g[s]), len(ids))
			}
			for i := range ids {
				if g[s][i] != ids[i] {
					t.Fatalf("%s: stream %s event %d out of order", name, s, i)
				}
			}
		}
	}

	// File.
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var fromFile []events.Event
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		ev, err := events.ParseJSON(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		fromFile = append(fromFile, ev)
	}
	check("jsonl", fromFile, all)

	// Kafka: without a clip topic, clip.scored is not produced. Nothing was produced before the
	// outage, so no repeats are possible here.
	var noClips []events.Event
	for _, ev := range all {
		if ev.Type != events.TypeClipScored {
			noClips = append(noClips, ev)
		}
	}
	var fromKafka []events.Event
	for _, r := range sinktest.ConsumeKafka(t, broker.Addr(), []string{"actions"}, len(noClips)) {
		ev, err := events.ParseJSON(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if r.Key != ev.Data.Stream {
			t.Fatalf("key %q for stream %q", r.Key, ev.Data.Stream)
		}
		fromKafka = append(fromKafka, ev)
	}
	check("kafka", fromKafka, noClips)

	// Redis Stream.
	msgs, err := rds.Client(t).XRange(context.Background(), "events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var fromRedis []events.Event
	for _, m := range msgs {
		ev, err := events.ParseJSON([]byte(m.Values["event"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		fromRedis = append(fromRedis, ev)
	}
	check("redis", fromRedis, all)
}
