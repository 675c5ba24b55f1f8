package sinks_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/sinks"
)

func TestValidateNamesTheField(t *testing.T) {
	if err := sinks.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range []struct {
		mod  func(*sinks.Config)
		want string
	}{
		{func(c *sinks.Config) { c.Buffer = 0 }, "buffer"},
		{func(c *sinks.Config) { c.JSONL.Path = "" }, "jsonl.path"},
		{func(c *sinks.Config) { c.Kafka.Enabled = true }, "kafka.brokers"},
		{func(c *sinks.Config) { c.Kafka.Enabled, c.Kafka.Brokers, c.Kafka.Topic = true, []string{"k:9092"}, "" }, "kafka.topic"},
		{func(c *sinks.Config) { c.Redis.Enabled = true }, "redis.addr"},
		{func(c *sinks.Config) { c.DownGrace = 0 }, "down_grace"},
		{func(c *sinks.Config) { c.Outbox.Fsync = "sometimes" }, "outbox.fsync"},
		{func(c *sinks.Config) { c.Outbox.Fsync = "-1s" }, "outbox.fsync"},
		{func(c *sinks.Config) { c.Outbox.MaxEntries = 0 }, "outbox.max_entries"},
		{func(c *sinks.Config) { c.Outbox.MaxBytes = -1 }, "outbox.max_bytes"},
		{func(c *sinks.Config) { c.Outbox.HighWater = 1.5 }, "outbox.high_water"},
	} {
		cfg := sinks.DefaultConfig()
		c.mod(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "config: "+c.want+" ") {
			t.Errorf("error %v, want one naming %s", err, c.want)
		}
	}
	// A disabled sink is not checked.
	cfg := sinks.DefaultConfig()
	cfg.Redis.Addr = ""
	if err := cfg.Validate(); err != nil {
		t.Errorf("disabled redis checked: %v", err)
	}
}

// All three sinks come out of Open the same way: each behind its own buffer, named for it.
func TestOpenWrapsEverySinkOnce(t *testing.T) {
	sinktest.CheckGoroutines(t)
	broker := sinktest.StartKafka(t, "ev")
	rds := sinktest.StartRedis(t)
	path := filepath.Join(t.TempDir(), "events.jsonl")
	cfg := sinks.DefaultConfig()
	cfg.Buffer = 64
	cfg.JSONL.Path = path
	cfg.Kafka.Enabled, cfg.Kafka.Brokers, cfg.Kafka.Topic = true, []string{broker.Addr()}, "ev"
	cfg.Redis.Enabled, cfg.Redis.Addr, cfg.Redis.Stream = true, rds.Addr(), "ev"
	set, err := sinks.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if set.Redis == nil || len(set.Sinks) != 3 {
		t.Fatalf("set: %+v", set)
	}
	f := set.Fanout()
	evs := sinktest.Stream("cam", 20)
	if err := f.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, st := range sink.AllStats(f) {
		names = append(names, st.Name)
		if st.Capacity != 64 || st.Delivered != uint64(len(evs)) {
			t.Errorf("%s: %+v, want capacity 64 and every event delivered", st.Name, st)
		}
	}
	if strings.Join(names, ",") != "jsonl,kafka,redis" {
		t.Errorf("buffers %v", names)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	lines := 0
	for sc := bufio.NewScanner(fh); sc.Scan(); lines++ {
	}
	if lines != len(evs) {
		t.Errorf("file has %d lines, want %d", lines, len(evs))
	}
	if n := rds.Client(t).XLen(context.Background(), "ev").Val(); n != int64(len(evs)) {
		t.Errorf("redis stream has %d entries, want %d", n, len(evs))
	}
}

func TestOpenErrorNamesTheSection(t *testing.T) {
	cfg := sinks.DefaultConfig()
	cfg.JSONL.Path = filepath.Join(t.TempDir(), "no", "such", "dir", "e.jsonl")
	if _, err := sinks.Open(cfg, nil); err == nil || !strings.Contains(err.Error(), "sinks.jsonl.path") {
		t.Fatalf("unwritable path: %v", err)
	}
	cfg = sinks.DefaultConfig()
	cfg.JSONL.Path = filepath.Join(t.TempDir(), "ok.jsonl")
	cfg.Kafka.Enabled = true // no brokers
	if _, err := sinks.Open(cfg, nil); err == nil || !strings.Contains(err.Error(), "sinks.kafka") || !strings.Contains(err.Error(), "brokers") {
		t.Fatalf("kafka without brokers: %v", err)
	}
}
