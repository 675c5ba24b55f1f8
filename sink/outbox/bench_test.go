package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/actionstream/actionstream/sink/outbox"
)

func TestBenchMeasures(t *testing.T) {
	for _, policy := range []string{"always", "100ms", "64"} {
		p, err := outbox.ParseSyncPolicy(policy)
		if err != nil {
			t.Fatal(err)
		}
		res, err := outbox.Bench(context.Background(), t.TempDir(), p, 300, 700)
		if err != nil {
			t.Fatalf("Bench(%s): %v", policy, err)
		}
		t.Log(res)
		if res.Events != 300 || res.EventsPerSec <= 0 || res.Elapsed <= 0 || res.Drained < res.Elapsed || res.Commits == 0 {
			t.Fatalf("Bench(%s) = %+v", policy, res)
		}
		// Under always every Append commits; the others batch.
		if policy == "always" && res.Commits < 300 {
			t.Fatalf("always: %d commits for 300 appends", res.Commits)
		}
		if policy == "64" && res.Commits >= 300 {
			t.Fatalf("count 64: %d commits for 300 appends", res.Commits)
		}
	}
	dir := t.TempDir()
	if _, err := outbox.Bench(context.Background(), dir, outbox.SyncPolicy{Mode: outbox.SyncAlways}, 10, 10); err != nil {
		t.Fatal(err)
	}
	o := open(t, dir, outbox.Options{Sync: outbox.SyncPolicy{Mode: outbox.SyncAlways}})
	appendN(t, o, 0, 1)
	closeOutbox(t, o)
	if _, err := outbox.Bench(context.Background(), dir, outbox.SyncPolicy{Mode: outbox.SyncAlways}, 10, 10); !errors.Is(err, outbox.ErrOptions) {
		t.Fatalf("Bench on a used outbox: %v", err)
	}
}

// BenchmarkAppend measures one appender (the pipeline's results handler) with a reader
// draining, per fsync policy, with 700-byte events (about a clip.scored event).
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []string{"always", "100ms", "64"} {
		b.Run("fsync="+policy, func(b *testing.B) {
			p, err := outbox.ParseSyncPolicy(policy)
			if err != nil {
				b.Fatal(err)
			}
			res, err := outbox.Bench(context.Background(), b.TempDir(), p, b.N, 700)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.EventsPerSec, "events/s")
			b.ReportMetric(float64(res.Elapsed.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(float64(res.Commits)/float64(b.N), "fsyncs/event")
		})
	}
}

func ExampleBench() {
	res, err := outbox.Bench(context.Background(), "", outbox.SyncPolicy{Mode: outbox.SyncInterval, Interval: 10 * time.Millisecond}, 0, 700)
	fmt.Println(res.Events, err)
	// Output: 0 outbox: invalid options: bench needs positive events (0) and size (700)
}
