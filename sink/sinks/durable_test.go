package sinks_test

import (
	"bufio"
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/sinks"
)

// Events appended to the outbox reach the JSON-lines file and the Redis Stream unchanged, each
// acknowledgement is reported per sink, and a sink that is down at the stop keeps its events
// for the next open, which delivers them.
func TestDurableDeliversAndKeepsWhatADownSinkLacks(t *testing.T) {
	sinktest.CheckGoroutines(t)
	rds := sinktest.StartRedis(t)
	dir := t.TempDir()
	cfg := sinks.DefaultConfig()
	cfg.JSONL.Path = filepath.Join(dir, "events.jsonl")
	cfg.Redis.Enabled, cfg.Redis.Addr, cfg.Redis.Stream = true, rds.Addr(), "ev"
	state := filepath.Join(dir, "state")

	var mu sync.Mutex
	acked := map[string]int{}
	onAck := func(name string, evs []events.Event) {
		mu.Lock()
		acked[name] += len(evs)
		mu.Unlock()
	}
	ackedBy := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return acked[name]
	}
	d, err := sinks.OpenDurable(cfg, state, nil, onAck)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()

	want := sinktest.Stream("cam", 20)
	if err := d.Append(context.Background(), want[:10]); err != nil {
		t.Fatal(err)
	}
	sinktest.WaitFor(t, "10 events in both sinks", func() bool { return ackedBy("jsonl") == 10 && ackedBy("redis") == 10 })
	if lag := d.Lag(); lag != nil {
		t.Errorf("lag after delivery: %v", lag)
	}

	// An event that cannot be encoded is left out and reported; the rest go in.
	bad := want[10]
	bad.Data.Score = float32(math.NaN())
	batch := append([]events.Event{bad}, want[11:15]...)
	if err := d.Append(context.Background(), batch); !sink.IsPermanent(err) || !strings.Contains(err.Error(), bad.ID) {
		t.Errorf("NaN score: %v", err)
	}

	// Redis down: the file gets the rest, Redis's share waits; the stop reports it and keeps it.
	rds.Kill()
	if err := d.Append(context.Background(), want[15:]); err != nil {
		t.Fatal(err)
	}
	sinktest.WaitFor(t, "the rest in the file", func() bool { return ackedBy("jsonl") == 19 })
	drainCtx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	lag := d.Drain(drainCtx)
	cancel()
	if lag["redis"] == 0 || lag["jsonl"] != 0 {
		t.Errorf("lag at the stop with Redis down: %v", lag)
	}
	stop()
	<-done
	closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := d.Close(closeCtx); err != nil {
		t.Errorf("close: %v", err)
	}

	var inFile []events.Event
	f, err := os.Open(cfg.JSONL.Path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		e, err := events.ParseJSON(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		inFile = append(inFile, e)
	}
	f.Close()
	wantFile := append(append([]events.Event{}, want[:10]...), want[11:]...)
	if len(inFile) != len(wantFile) {
		t.Fatalf("%d events in the file, want %d", len(inFile), len(wantFile))
	}
	for i := range wantFile {
		if inFile[i].ID != wantFile[i].ID || !inFile[i].Time.Equal(wantFile[i].Time) || !reflect.DeepEqual(inFile[i].Data.TopK, wantFile[i].Data.TopK) {
			t.Errorf("event %d: %+v, want %+v", i, inFile[i], wantFile[i])
		}
	}

	// Next open, Redis back: Redis gets what it lacked; the file gets nothing twice.
	rds.Start()
	mu.Lock()
	acked = map[string]int{}
	mu.Unlock()
	d2, err := sinks.OpenDurable(cfg, state, nil, onAck)
	if err != nil {
		t.Fatal(err)
	}
	ctx2, stop2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { defer close(done2); d2.Run(ctx2) }()
	sinktest.WaitFor(t, "Redis catches up", func() bool { return d2.Lag() == nil })
	stop2()
	<-done2
	if err := d2.Close(context.Background()); err != nil {
		t.Error(err)
	}
	if n := ackedBy("redis"); n == 0 || n > 9 {
		t.Errorf("redis got %d events at the second open, want the at most 9 it lacked", n)
	}
	if n := ackedBy("jsonl"); n != 0 {
		t.Errorf("the file got %d events again", n)
	}
	entries, err := rds.Client(t).XRange(context.Background(), "ev", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, x := range entries {
		ids[x.Values["id"].(string)] = true
	}
	for _, e := range want[15:] {
		if !ids[e.ID] {
			t.Errorf("%s missing from the Redis Stream", e.ID)
		}
	}
	if _, err := sinks.OpenDurable(cfg, filepath.Join(cfg.JSONL.Path, "x"), nil, nil); err == nil || !strings.HasPrefix(err.Error(), "state_dir: ") {
		t.Errorf("state_dir under a file: %v", err)
	}
}
