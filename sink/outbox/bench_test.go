package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/sink/outbox"
)

func TestBenchMeasures(t *testing.T) {
	for _, c := range []struct {
		policy string
		batch  int
	}{{"always", 1}, {"always", 16}, {"100ms", 1}, {"64", 1}} {
		p, err := outbox.ParseSyncPolicy(c.policy)
		if err != nil {
			t.Fatal(err)
		}
		res, err := outbox.Bench(context.Background(), t.TempDir(), outbox.BenchConfig{Policy: p, Events: 320, EventBytes: 700, Batch: c.batch})
		if err != nil {
			t.Fatalf("Bench(%s): %v", c.policy, err)
		}
		t.Log(res)
		if res.Events != 320 || res.Batch != c.batch || res.EventsPerSec <= 0 || res.Elapsed <= 0 || res.Drained < res.Elapsed || res.Commits == 0 {
			t.Fatalf("Bench(%s) = %+v", c.policy, res)
		}
		// Under always every call commits once; the other policies batch.
		if c.policy == "always" && res.Commits < uint64(320/c.batch) {
			t.Fatalf("always, batch %d: %d commits for 320 appends", c.batch, res.Commits)
		}
		if c.policy == "always" && c.batch == 16 && res.Commits > 40 {
			t.Fatalf("always, batch 16: %d commits for 20 batches; a batch should share one", res.Commits)
		}
		if c.policy == "64" && res.Commits >= 320 {
			t.Fatalf("count 64: %d commits for 320 appends", res.Commits)
		}
	}
	dir := t.TempDir()
	if _, err := outbox.Bench(context.Background(), dir, outbox.BenchConfig{Events: 10, EventBytes: 10}); err != nil {
		t.Fatal(err)
	}
	o := open(t, dir, outbox.Options{})
	appendN(t, o, 0, 1)
	closeOutbox(t, o)
	if _, err := outbox.Bench(context.Background(), dir, outbox.BenchConfig{Events: 10, EventBytes: 10}); !errors.Is(err, outbox.ErrOptions) {
		t.Fatalf("Bench on a used outbox: %v", err)
	}
}

// BenchmarkAppend measures one appender (the pipeline's results handler) with a reader
// draining, per fsync policy and batch size, with 700-byte events (about a clip.scored event).
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		policy string
		batch  int
	}{{"always", 1}, {"always", 16}, {"100ms", 1}, {"64", 1}} {
		b.Run(fmt.Sprintf("fsync=%s/batch=%d", c.policy, c.batch), func(b *testing.B) {
			p, err := outbox.ParseSyncPolicy(c.policy)
			if err != nil {
				b.Fatal(err)
			}
			res, err := outbox.Bench(context.Background(), b.TempDir(), outbox.BenchConfig{Policy: p, Events: b.N, EventBytes: 700, Batch: c.batch})
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
	_, err := outbox.Bench(context.Background(), "", outbox.BenchConfig{Events: 0, EventBytes: 700})
	fmt.Println(err)
	// Output: outbox: invalid options: bench needs positive events (0), size (700) and batch (1)
}

func TestCompareAlternatesAndSummarises(t *testing.T) {
	always, _ := outbox.ParseSyncPolicy("always")
	count, _ := outbox.ParseSyncPolicy("64")
	dir := t.TempDir()
	rep, err := outbox.Compare(context.Background(), dir, []outbox.SyncPolicy{always, count}, outbox.BenchConfig{Events: 128, EventBytes: 700}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Policies) != 2 || rep.Policies[0].Policy != always || rep.Policies[1].Policy != count {
		t.Fatalf("policies %+v", rep.Policies)
	}
	for _, p := range rep.Policies {
		if len(p.Runs) != 3 || p.Min <= 0 || p.Min > p.Median || p.Median > p.Max {
			t.Fatalf("%s: %d runs, min %v median %v max %v", p.Policy, len(p.Runs), p.Min, p.Median, p.Max)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("runs left %v behind", left)
	}
	var out strings.Builder
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "always") || !strings.Contains(out.String(), "median ev/s") {
		t.Errorf("report:\n%s", out.String())
	}
	if _, err := outbox.Compare(context.Background(), dir, nil, outbox.BenchConfig{Events: 1, EventBytes: 1}, 1); !errors.Is(err, outbox.ErrOptions) {
		t.Errorf("no policies: %v", err)
	}
}
