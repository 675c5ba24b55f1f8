package outbox

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/actionstream/actionstream/hostinfo"
)

// BenchConfig says what Bench measures.
type BenchConfig struct {
	Policy     SyncPolicy // zero: DefaultSyncPolicy()
	Events     int        // events appended in all
	EventBytes int        // bytes per event (a clip.scored event is about 700)
	Batch      int        // events per AppendBatch call; default 1 (one Append per event)
}

// BenchResult is what Bench measured.
type BenchResult struct {
	Policy     SyncPolicy
	Events     int
	EventBytes int
	Batch      int
	// Elapsed runs from the first Append to the moment every event is committed; EventsPerSec
	// is Events over it.
	Elapsed      time.Duration
	EventsPerSec float64
	Commits      uint64 // write transactions (fsyncs) it took
	// Drained is when the reader had acknowledged everything (from the first Append).
	Drained time.Duration
}

func (r BenchResult) String() string {
	return fmt.Sprintf("fsync %-6s batch %d, %d events of %d B: %.0f events/s (%s, %d commits; drained after %s)",
		r.Policy, r.Batch, r.Events, r.EventBytes, r.EventsPerSec, r.Elapsed.Round(time.Millisecond), r.Commits,
		r.Drained.Round(time.Millisecond))
}

// Bench measures append throughput as the pipeline uses the outbox: one goroutine appends
// cfg.Events events of cfg.EventBytes each, cfg.Batch per call, to a new outbox in dir (which
// must not hold one) under cfg.Policy, while one reader delivers to a sink that accepts at once
// and acknowledges. dir is left with the empty outbox.
func Bench(ctx context.Context, dir string, cfg BenchConfig) (BenchResult, error) {
	n := cfg.Events
	if cfg.Batch == 0 {
		cfg.Batch = 1
	}
	if n <= 0 || cfg.EventBytes <= 0 || cfg.Batch < 0 {
		return BenchResult{}, fmt.Errorf("%w: bench needs positive events (%d), size (%d) and batch (%d)", ErrOptions, n, cfg.EventBytes, cfg.Batch)
	}
	o, err := Open(dir, Options{Sync: cfg.Policy, Readers: []string{"bench"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return BenchResult{}, err
	}
	if st := o.Stats(); st.LastSeq != 0 {
		_ = o.Close(ctx)
		return BenchResult{}, fmt.Errorf("%w: bench needs a new outbox; %s already holds %d entries", ErrOptions, dir, st.LastSeq)
	}
	r, err := o.Reader("bench")
	if err != nil {
		_ = o.Close(ctx)
		return BenchResult{}, err
	}
	dctx, stopDelivery := context.WithCancel(ctx)
	d := NewDelivery(r, func(context.Context, []Entry) error { return nil }, DeliveryOptions{Logger: o.log})
	var wg sync.WaitGroup
	wg.Go(func() { _ = d.Run(dctx) })
	defer func() {
		stopDelivery()
		wg.Wait()
	}()

	event := []byte(strings.Repeat("e", cfg.EventBytes))
	batch := make([][]byte, cfg.Batch)
	for i := range batch {
		batch[i] = event
	}
	start := time.Now()
	for done := 0; done < n; done += len(batch) {
		if _, err := o.AppendBatch(ctx, batch[:min(len(batch), n-done)]); err != nil {
			_ = o.Close(ctx)
			return BenchResult{}, err
		}
	}
	for o.Stats().DurableSeq < uint64(n) {
		if ctx.Err() != nil {
			_ = o.Close(ctx)
			return BenchResult{}, ctx.Err()
		}
		time.Sleep(100 * time.Microsecond)
	}
	res := BenchResult{Policy: o.opts.Sync, Events: n, EventBytes: cfg.EventBytes, Batch: cfg.Batch, Elapsed: time.Since(start)}
	res.EventsPerSec = float64(n) / res.Elapsed.Seconds()
	res.Commits = o.Stats().Commits
	for r.Cursor() < uint64(n) {
		if ctx.Err() != nil {
			_ = o.Close(ctx)
			return BenchResult{}, ctx.Err()
		}
		time.Sleep(100 * time.Microsecond)
	}
	res.Drained = time.Since(start)
	stopDelivery()
	wg.Wait()
	return res, o.Close(ctx)
}

// Comparison is one policy's results over the runs of Compare.
type Comparison struct {
	Policy SyncPolicy
	Runs   []BenchResult
	// Min, Median and Max are of EventsPerSec over the runs.
	Min, Median, Max float64
}

// ComparisonReport is what Compare measured, with the machine's load around it.
type ComparisonReport struct {
	Events, EventBytes, Batch, Runs int
	Policies                        []Comparison
	// LoadBefore and LoadAfter are /proc/loadavg's first three fields ("" where there is none):
	// other work on the machine lowers the rates.
	LoadBefore, LoadAfter string
}

// Compare runs Bench cfg.Events events under each policy, runs times, alternating the
// policies run by run (A B A B ...) so that a change in the machine's load hits all of them
// alike. Every run gets a new outbox in a directory under dir, removed afterwards.
func Compare(ctx context.Context, dir string, policies []SyncPolicy, cfg BenchConfig, runs int) (ComparisonReport, error) {
	if len(policies) == 0 || runs <= 0 {
		return ComparisonReport{}, fmt.Errorf("%w: compare needs policies (%d) and runs (%d)", ErrOptions, len(policies), runs)
	}
	if cfg.Batch == 0 {
		cfg.Batch = 1
	}
	rep := ComparisonReport{Events: cfg.Events, EventBytes: cfg.EventBytes, Batch: cfg.Batch, Runs: runs, LoadBefore: hostinfo.LoadAverage()}
	rep.Policies = make([]Comparison, len(policies))
	for r := 0; r < runs; r++ {
		for i, pol := range policies {
			run, err := os.MkdirTemp(dir, "outbox-bench-")
			if err != nil {
				return rep, fmt.Errorf("outbox bench: %w", err)
			}
			c := cfg
			c.Policy = pol
			res, err := Bench(ctx, run, c)
			_ = os.RemoveAll(run)
			if err != nil {
				return rep, err
			}
			rep.Policies[i].Policy = res.Policy
			rep.Policies[i].Runs = append(rep.Policies[i].Runs, res)
		}
	}
	for i := range rep.Policies {
		rates := make([]float64, 0, runs)
		for _, r := range rep.Policies[i].Runs {
			rates = append(rates, r.EventsPerSec)
		}
		sort.Float64s(rates)
		rep.Policies[i].Min, rep.Policies[i].Max = rates[0], rates[len(rates)-1]
		rep.Policies[i].Median = rates[len(rates)/2]
		if len(rates)%2 == 0 {
			rep.Policies[i].Median = (rates[len(rates)/2-1] + rates[len(rates)/2]) / 2
		}
	}
	rep.LoadAfter = hostinfo.LoadAverage()
	return rep, nil
}

// WriteText prints the report as a table.
func (r ComparisonReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "outbox append: %d events of %d B, %d per call, %d runs per policy, alternated\n", r.Events, r.EventBytes, r.Batch, r.Runs)
	fmt.Fprintf(&b, "%-8s %12s %12s %12s %14s\n", "fsync", "min ev/s", "median ev/s", "max ev/s", "fsyncs/event")
	for _, p := range r.Policies {
		var commits uint64
		for _, run := range p.Runs {
			commits += run.Commits
		}
		perEvent := float64(commits) / float64(len(p.Runs)*r.Events)
		fmt.Fprintf(&b, "%-8s %12.0f %12.0f %12.0f %14.4f\n", p.Policy, p.Min, p.Median, p.Max, perEvent)
	}
	if r.LoadBefore != "" {
		fmt.Fprintf(&b, "load average: %s before, %s after\n", r.LoadBefore, r.LoadAfter)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
