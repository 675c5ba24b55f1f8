package infer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/actionstream/actionstream/clipper"
)

// Throughput is the outcome of a timed run.
type Throughput struct {
	Batch         int
	Calls         int           // model calls (Measure) or batches (MeasureBatcher)
	Clips         int           // clips scored
	Elapsed       time.Duration // timed part, warm-up excluded
	ClipsPerSec   float64
	P50, P90, P99 time.Duration // per model call
}

func (t Throughput) String() string {
	return fmt.Sprintf("batch %d: %d clips in %d calls, %.3fs, %.2f clips/s, call p50 %v p90 %v p99 %v",
		t.Batch, t.Clips, t.Calls, t.Elapsed.Seconds(), t.ClipsPerSec, t.P50, t.P90, t.P99)
}

// MeasureOptions bound a timed run: it stops after Duration, or after MaxCalls when
// MaxCalls > 0, whichever comes first, but never before one timed call.
type MeasureOptions struct {
	Warmup   int           // untimed calls first; ORT's first runs allocate and tune
	Duration time.Duration // 0 = 5 s
	MaxCalls int
}

func (o MeasureOptions) done(start time.Time, calls int) bool {
	d := o.Duration
	if d <= 0 {
		d = 5 * time.Second
	}
	return calls > 0 && (time.Since(start) >= d || (o.MaxCalls > 0 && calls >= o.MaxCalls))
}

// Measure times raw Model.RunInto calls of batch clips on random input, with buffers
// allocated once: the ceiling the batcher is compared against (`actionstream bench infer`).
func Measure(ctx context.Context, m *Model, batch int, o MeasureOptions) (Throughput, error) {
	if batch <= 0 {
		return Throughput{}, fmt.Errorf("%w: batch %d", ErrBadBatch, batch)
	}
	in := randomClips(batch * m.ClipLen())
	out := make([]float32, batch*m.Classes())
	for i := 0; i < o.Warmup; i++ {
		if err := m.RunInto(in, batch, out); err != nil {
			return Throughput{}, err
		}
	}
	var lat []time.Duration
	start := time.Now()
	for !o.done(start, len(lat)) && ctx.Err() == nil {
		t := time.Now()
		if err := m.RunInto(in, batch, out); err != nil {
			return Throughput{}, err
		}
		lat = append(lat, time.Since(t))
	}
	return summarize(batch, len(lat), len(lat)*batch, time.Since(start), lat), nil
}

// MeasureBatcher times the Batcher end to end (Submit, copy into the batch, model call,
// scores, top-k, delivery) with `streams` synthetic streams that each submit their next
// clip as soon as the previous one is scored, so batches fill to min(streams, MaxBatch).
// Warm-up counts batches here.
func MeasureBatcher(ctx context.Context, m *Model, cfg BatcherConfig, streams int, o MeasureOptions) (Throughput, error) {
	if streams <= 0 {
		return Throughput{}, fmt.Errorf("%w: streams %d", ErrBadOptions, streams)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Results route back to the stream that waits for them.
	back := make([]chan Result, streams)
	for i := range back {
		back[i] = make(chan Result, 1)
	}
	var (
		mu      sync.Mutex
		lat     []time.Duration
		clips   int
		batches int
		timing  bool
		start   time.Time
	)
	finished := make(chan struct{})
	var finishOnce sync.Once
	cfg.OnBatch = func(n int, d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		batches++
		if !timing && batches > o.Warmup {
			timing, start = true, time.Now()
			return // the timed window starts after this batch
		}
		if timing && err == nil {
			lat = append(lat, d)
			clips += n
			if o.done(start, len(lat)) {
				finishOnce.Do(func() { close(finished) })
			}
		}
	}
	b, err := NewBatcher(m, cfg, func(r Result) {
		var i int
		fmt.Sscanf(r.Stream, "bench%d", &i)
		back[i] <- r
	})
	if err != nil {
		return Throughput{}, err
	}
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx) }()

	var wg sync.WaitGroup
	for i := 0; i < streams; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tensor := randomClips(m.ClipLen())
			name := fmt.Sprint("bench", i)
			for seq := uint64(0); ctx.Err() == nil; seq++ {
				c := &clipper.Clip{Stream: name, Seq: seq, Frames: m.Meta.Frames, Size: m.Meta.CropSize, Tensor: tensor}
				if b.Submit(c) != nil {
					return
				}
				select {
				case <-back[i]: // the batcher copied and released the tensor before scoring
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	select {
	case <-finished:
	case <-ctx.Done():
	}
	mu.Lock()
	elapsed := time.Since(start)
	t := summarize(b.MaxBatch(), len(lat), clips, elapsed, append([]time.Duration(nil), lat...))
	mu.Unlock()
	cancel()
	// Each stream has at most one clip in flight and a result channel of capacity 1, so
	// the shutdown flush never blocks on a stream that has gone.
	err = <-runErr
	wg.Wait()
	return t, err
}

func summarize(batch, calls, clips int, elapsed time.Duration, lat []time.Duration) Throughput {
	t := Throughput{Batch: batch, Calls: calls, Clips: clips, Elapsed: elapsed}
	if elapsed > 0 {
		t.ClipsPerSec = float64(clips) / elapsed.Seconds()
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
		t.P50, t.P90, t.P99 = q(0.5), q(0.9), q(0.99)
	}
	return t
}

// randomClips is normalized-looking input: ORT's speed does not depend on values,
// but zeros could hit fast paths a real clip never does.
func randomClips(n int) []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}
