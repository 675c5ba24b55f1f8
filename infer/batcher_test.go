package infer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/confkit"
)

// batchFixture is a model with numpy reference logits for n distinct clips.
type batchFixture struct {
	m      *Model
	input  []float32 // n clips
	logits []float32 // numpy, n rows
}

func newBatchFixture(t *testing.T, n int) *batchFixture {
	t.Helper()
	path := makeModel(t, "--frames", "4", "--crop", "8", "--classes", "5", "--expect", fmt.Sprint(n))
	r := newRuntime(t, Options{})
	return &batchFixture{m: openModel(t, r, path), input: readF32(t, path+".input.f32"), logits: readF32(t, path+".expected.f32")}
}

// clip makes a clip of stream carrying reference clip i (its own copy of the tensor).
func (f *batchFixture) clip(stream string, seq uint64, i int) *clipper.Clip {
	n := f.m.ClipLen()
	return &clipper.Clip{
		Stream: stream, Seq: seq, Frames: f.m.Meta.Frames, Size: f.m.Meta.CropSize,
		Start: time.Duration(i) * time.Second, End: time.Duration(i)*time.Second + 500*time.Millisecond,
		Tensor: append([]float32(nil), f.input[i*n:(i+1)*n]...),
	}
}

// checkScores asserts res carries the scores of reference clip i.
func (f *batchFixture) checkScores(t *testing.T, res Result, i int) {
	t.Helper()
	c := f.m.Classes()
	want := Scores(f.m.Meta, f.logits[i*c:(i+1)*c])
	if len(res.Scores) != c {
		t.Fatalf("%s/%d: %d scores", res.Stream, res.Seq, len(res.Scores))
	}
	for j := range want {
		if !near(float64(res.Scores[j]), float64(want[j]), 1e-4) {
			t.Fatalf("%s/%d score %d = %v, want %v (reference clip %d)", res.Stream, res.Seq, j, res.Scores[j], want[j], i)
		}
	}
	if top := res.TopK(2); len(top) != 2 || top[0].Score != ClampScore(maxOf(res.Scores)) {
		t.Fatalf("%s/%d: top-k %v does not lead with the best score", res.Stream, res.Seq, top)
	}
	if len(res.Labels) != len(res.Scores) || res.Model != f.m.Meta.Name || res.ModelDigest != f.m.Digest {
		t.Fatalf("%s/%d: labels %d, model %q %q: the scored clip must name its model", res.Stream, res.Seq, len(res.Labels), res.Model, res.ModelDigest)
	}
}

func maxOf(s []float32) float32 {
	m := s[0]
	for _, x := range s {
		m = max(m, x)
	}
	return m
}

// collector gathers Results from the batcher goroutine.
type collector struct {
	mu  sync.Mutex
	res []Result
	ch  chan Result
}

func newCollector() *collector { return &collector{ch: make(chan Result, 1024)} }

// quiet is a logger for batchers under test.
func quiet() *slog.Logger { l, _ := testLogger(); return l }

func (c *collector) handle(r Result) {
	c.mu.Lock()
	c.res = append(c.res, r)
	c.mu.Unlock()
	c.ch <- r
}

func (c *collector) wait(t *testing.T, n int, within time.Duration) []Result {
	t.Helper()
	deadline := time.After(within)
	var out []Result
	for len(out) < n {
		select {
		case r := <-c.ch:
			out = append(out, r)
		case <-deadline:
			t.Fatalf("got %d results within %v, want %d", len(out), within, n)
		}
	}
	return out
}

// runBatcher starts b.Run and returns a stop func that cancels and waits for it.
func runBatcher(t *testing.T, b *Batcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// A full batch is flushed without waiting for MaxWait, each result carries its own
// clip's scores (batch rows are not mixed up), and the tensors are released.
func TestBatcherFlushesAtMaxBatch(t *testing.T) {
	f := newBatchFixture(t, 6)
	col := newCollector()
	b, err := NewBatcher(f.m, BatcherConfig{Logger: quiet(), MaxBatch: 3, MaxWait: confkit.Duration(time.Hour)}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	runBatcher(t, b)
	clips := make([]*clipper.Clip, 6)
	for i := range clips {
		clips[i] = f.clip(fmt.Sprintf("cam%d", i), uint64(i), i)
		if err := b.Submit(clips[i]); err != nil {
			t.Fatal(err)
		}
	}
	res := col.wait(t, 6, 10*time.Second)
	for _, r := range res {
		var i int
		fmt.Sscanf(r.Stream, "cam%d", &i)
		f.checkScores(t, r, i)
		if r.BatchSize != 3 || r.Seq != uint64(i) || r.Start != time.Duration(i)*time.Second {
			t.Fatalf("result %+v", r)
		}
		if r.InferLatency <= 0 {
			t.Fatalf("InferLatency %v", r.InferLatency)
		}
	}
	for i, c := range clips {
		if c.Tensor != nil {
			t.Fatalf("clip %d not released", i)
		}
	}
	st := b.Stats()
	if st.Batches != 2 || st.BatchSizes[3] != 2 || st.Scored != 6 || st.Submitted != 6 || st.Dropped != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Fewer clips than MaxBatch wait exactly MaxWait, then go as one batch. In a synctest bubble
// the clock moves only while every goroutine waits, so the wait is measured exactly.
func TestBatcherFlushesAtMaxWait(t *testing.T) {
	f := newBatchFixture(t, 2)
	synctest.Test(t, func(t *testing.T) {
		col := newCollector()
		const wait = 80 * time.Millisecond
		var batches []int
		var mu sync.Mutex
		b, err := NewBatcher(f.m, BatcherConfig{Logger: quiet(), MaxBatch: 8, MaxWait: confkit.Duration(wait), OnBatch: func(n int, d time.Duration, err error) {
			mu.Lock()
			batches = append(batches, n)
			mu.Unlock()
			if err != nil || d < 0 {
				t.Errorf("OnBatch(%d, %v, %v)", n, d, err)
			}
		}}, col.handle)
		if err != nil {
			t.Fatal(err)
		}
		runBatcher(t, b)
		start := time.Now()
		for i := 0; i < 2; i++ {
			if err := b.Submit(f.clip(fmt.Sprint("s", i), 0, i)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(wait - time.Millisecond)
		synctest.Wait()
		if got := b.Stats().Batches; got != 0 {
			t.Fatalf("%d batches 1ms before MaxWait", got)
		}
		res := col.wait(t, 2, 10*time.Second)
		if el := time.Since(start); el != wait {
			t.Fatalf("flushed after %v, want exactly MaxWait %v", el, wait)
		}
		for i, r := range res {
			if r.BatchSize != 2 || r.QueueDelay != wait {
				t.Fatalf("result %d: batch %d queue delay %v, want 2 and %v", i, r.BatchSize, r.QueueDelay, wait)
			}
			f.checkScores(t, r, int(r.Stream[1]-'0'))
		}
		mu.Lock()
		defer mu.Unlock()
		if len(batches) != 1 || batches[0] != 2 {
			t.Fatalf("OnBatch saw %v, want [2]", batches)
		}
	})
}

// With as many streams as SetStreams says can submit, a batch is complete as soon as each has
// a clip waiting: it does not wait out MaxWait.
func TestBatcherFlushesWhenEveryStreamHasAClip(t *testing.T) {
	f := newBatchFixture(t, 2)
	synctest.Test(t, func(t *testing.T) {
		col := newCollector()
		b, err := NewBatcher(f.m, BatcherConfig{Logger: quiet(), MaxBatch: 8, MaxWait: confkit.Duration(time.Hour)}, col.handle)
		if err != nil {
			t.Fatal(err)
		}
		b.SetStreams(2)
		runBatcher(t, b)
		if err := b.Submit(f.clip("s0", 0, 0)); err != nil {
			t.Fatal(err)
		}
		// Most of MaxWait passes with one of two streams waiting: nothing goes.
		time.Sleep(59 * time.Minute)
		synctest.Wait()
		if got := b.Stats().Scored; got != 0 {
			t.Fatalf("one of two streams had a clip, yet %d were scored", got)
		}
		start := time.Now()
		if err := b.Submit(f.clip("s1", 0, 1)); err != nil {
			t.Fatal(err)
		}
		for _, r := range col.wait(t, 2, 10*time.Second) {
			if r.BatchSize != 2 {
				t.Fatalf("batch of %d", r.BatchSize)
			}
		}
		if el := time.Since(start); el != 0 {
			t.Fatalf("the complete batch waited %v", el)
		}
		// A stream leaving lowers the bar for the clip already waiting.
		if err := b.Submit(f.clip("s0", 1, 0)); err != nil {
			t.Fatal(err)
		}
		b.SetStreams(1)
		start = time.Now()
		col.wait(t, 1, 10*time.Second)
		if el := time.Since(start); el != 0 {
			t.Fatalf("after SetStreams(1) the waiting clip still waited %v", el)
		}
	})
}

// With max_pending 1 a newer clip of a stream replaces the waiting one (latest wins): the old
// one is released and counted.
func TestBatcherLatestWins(t *testing.T) {
	f := newBatchFixture(t, 4)
	col := newCollector()
	b, err := NewBatcher(f.m, BatcherConfig{Logger: quiet(), MaxBatch: 8, MaxPending: 1, MaxWait: confkit.Duration(20 * time.Millisecond)}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	// Submitted before Run starts, so nothing can be flushed in between.
	a0, a1, a2, b0 := f.clip("a", 0, 0), f.clip("a", 1, 1), f.clip("a", 2, 2), f.clip("b", 0, 3)
	for _, c := range []*clipper.Clip{a0, a1, b0, a2} {
		if err := b.Submit(c); err != nil {
			t.Fatal(err)
		}
	}
	if a0.Tensor != nil || a1.Tensor != nil {
		t.Fatal("replaced clips were not released at once")
	}
	if a2.Tensor == nil || b0.Tensor == nil {
		t.Fatal("waiting clips released early")
	}
	st := b.Stats()
	if st.Dropped != 2 || st.DroppedByStream["a"] != 2 || st.DroppedByStream["b"] != 0 || st.Pending != 2 || st.Submitted != 4 {
		t.Fatalf("stats %+v", st)
	}
	runBatcher(t, b)
	res := col.wait(t, 2, 10*time.Second)
	got := map[string]Result{}
	for _, r := range res {
		got[r.Stream] = r
	}
	if got["a"].Seq != 2 || got["b"].Seq != 0 || got["a"].BatchSize != 2 {
		t.Fatalf("results %+v", res)
	}
	f.checkScores(t, got["a"], 2)
	f.checkScores(t, got["b"], 3)
	// "a" keeps its place in the queue: the queue delay counts from a0's arrival.
	if got["a"].QueueDelay < got["b"].QueueDelay {
		t.Fatalf("replacement lost its queue position: a %v b %v", got["a"].QueueDelay, got["b"].QueueDelay)
	}
}

// Cancelling Run flushes what is waiting, then Submit is refused and releases the clip.
func TestBatcherShutdownFlushes(t *testing.T) {
	f := newBatchFixture(t, 5)
	col := newCollector()
	b, err := NewBatcher(f.m, BatcherConfig{Logger: quiet(), MaxBatch: 2, MaxWait: confkit.Duration(time.Hour)}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	stop := runBatcher(t, b)
	for i := 0; i < 5; i++ {
		if err := b.Submit(f.clip(fmt.Sprint("s", i), 7, i)); err != nil {
			t.Fatal(err)
		}
	}
	// Two full batches go at once; the fifth clip waits for an hour unless shutdown flushes it.
	col.wait(t, 4, 10*time.Second)
	if st := b.Stats(); st.Pending != 1 {
		t.Fatalf("pending %d, want 1", st.Pending)
	}
	stop()
	col.mu.Lock()
	n := len(col.res)
	col.mu.Unlock()
	if n != 5 {
		t.Fatalf("%d results after shutdown, want 5", n)
	}
	r := col.wait(t, 1, time.Second)[0]
	if r.Stream != "s4" || r.BatchSize != 1 {
		t.Fatalf("flushed result %+v", r)
	}
	f.checkScores(t, r, 4)
	late := f.clip("late", 0, 0)
	if err := b.Submit(late); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after shutdown: %v, want ErrClosed", err)
	}
	if late.Tensor != nil {
		t.Fatal("refused clip not released")
	}
	if err := b.Run(context.Background()); !errors.Is(err, ErrBatcherRunning) {
		t.Fatalf("second Run: %v, want ErrBatcherRunning", err)
	}
	st := b.Stats()
	if st.Scored != 5 || st.Rejected != 1 || st.BatchSizes[2] != 2 || st.BatchSizes[1] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBatcherRejectsWrongShape(t *testing.T) {
	f := newBatchFixture(t, 1)
	b, err := NewBatcher(f.m, BatcherConfig{Logger: quiet()}, func(Result) { t.Error("unexpected result") })
	if err != nil {
		t.Fatal(err)
	}
	c := f.clip("x", 0, 0)
	c.Frames = 8
	if err := b.Submit(c); !errors.Is(err, ErrClipShape) {
		t.Fatalf("err = %v, want ErrClipShape", err)
	}
	if c.Tensor != nil {
		t.Fatal("rejected clip not released")
	}
	short := f.clip("y", 0, 0)
	short.Tensor = short.Tensor[:10]
	if err := b.Submit(short); !errors.Is(err, ErrClipShape) {
		t.Fatalf("short tensor: err = %v", err)
	}
	if st := b.Stats(); st.Rejected != 2 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Many streams submit concurrently from their own goroutines (as decoders do): every
// clip is either scored or dropped, each stream's results come in Seq order, every
// stream's last clip is scored, and no batch exceeds MaxBatch.
func TestBatcherConcurrentStreams(t *testing.T) {
	f := newBatchFixture(t, 4)
	// In a bubble: the submitters' pauses and MaxWait are on the fake clock, so the test takes
	// only the model calls' time.
	synctest.Test(t, func(t *testing.T) {
		col := newCollector()
		const streams, perStream, maxBatch = 8, 25, 3
		b, err := NewBatcher(f.m, BatcherConfig{Logger: quiet(), MaxBatch: maxBatch, MaxWait: confkit.Duration(5 * time.Millisecond)}, col.handle)
		if err != nil {
			t.Fatal(err)
		}
		stop := runBatcher(t, b)
		var wg sync.WaitGroup
		for s := 0; s < streams; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for q := 0; q < perStream; q++ {
					if err := b.Submit(f.clip(fmt.Sprint("cam", s), uint64(q), (s+q)%4)); err != nil {
						t.Error(err)
						return
					}
					time.Sleep(time.Duration(s%3) * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		stop()

		st := b.Stats()
		if st.Submitted != streams*perStream || st.Scored+st.Dropped != st.Submitted || st.Pending != 0 || st.Failed != 0 {
			t.Fatalf("stats %+v", st)
		}
		var sum uint64
		for n, c := range st.BatchSizes {
			sum += uint64(n) * c
		}
		if sum != st.Scored || len(st.BatchSizes) != maxBatch+1 {
			t.Fatalf("batch sizes %v sum to %d, scored %d", st.BatchSizes, sum, st.Scored)
		}
		var dropped uint64
		for _, d := range st.DroppedByStream {
			dropped += d
		}
		if dropped != st.Dropped {
			t.Fatalf("per-stream drops sum %d, total %d", dropped, st.Dropped)
		}
		col.mu.Lock()
		defer col.mu.Unlock()
		if uint64(len(col.res)) != st.Scored {
			t.Fatalf("%d results, %d scored", len(col.res), st.Scored)
		}
		last := map[string]int64{}
		for _, r := range col.res {
			prev, seen := last[r.Stream]
			if seen && int64(r.Seq) <= prev {
				t.Fatalf("%s: seq %d after %d", r.Stream, r.Seq, prev)
			}
			last[r.Stream] = int64(r.Seq)
			var s int
			fmt.Sscanf(r.Stream, "cam%d", &s)
			f.checkScores(t, r, (s+int(r.Seq))%4)
		}
		for s := 0; s < streams; s++ {
			if last[fmt.Sprint("cam", s)] != perStream-1 {
				t.Fatalf("cam%d: last scored seq %d, want %d", s, last[fmt.Sprint("cam", s)], perStream-1)
			}
		}
		t.Logf("batches %d sizes %v dropped %d", st.Batches, st.BatchSizes, st.Dropped)
	})
}

// Clips from the real clipper go back to its pool when the batcher releases them.
func TestBatcherWithClipper(t *testing.T) {
	f := newBatchFixture(t, 1)
	col := newCollector()
	b, err := NewBatcher(f.m, BatcherConfig{Logger: quiet(), MaxBatch: 2, MaxWait: confkit.Duration(10 * time.Millisecond)}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	stop := runBatcher(t, b)
	cl, err := clipper.New("cam", clipper.Config{Frames: f.m.Meta.Frames, SamplingRate: f.m.Meta.SamplingRate, Size: f.m.Meta.CropSize})
	if err != nil {
		t.Fatal(err)
	}
	s := f.m.Meta.CropSize
	frame := &clipper.Frame{Pixels: make([]float32, 3*s*s)}
	var clips int
	base := time.Now()
	for i := 0; i < 90; i++ { // 3 s at 30 fps
		frame.PTS = time.Duration(i) * time.Second / 30
		frame.Wall = base.Add(frame.PTS)
		for j := range frame.Pixels {
			frame.Pixels[j] = float32(i%7) / 7
		}
		if !cl.Want(frame.PTS) {
			continue
		}
		for _, c := range cl.Add(frame) {
			clips++
			if err := b.Submit(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop()
	st := b.Stats()
	if clips == 0 || st.Submitted != uint64(clips) || st.Scored+st.Dropped != uint64(clips) {
		t.Fatalf("clipper made %d clips; batcher %+v", clips, st)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, r := range col.res {
		if r.Stream != "cam" || r.EndWall.Before(r.StartWall) || r.End <= r.Start {
			t.Fatalf("result %+v", r)
		}
	}
}

// A model exported with a fixed N caps MaxBatch and gets padded calls of that size.
func TestBatcherFixedBatchModel(t *testing.T) {
	path := makeModel(t, "--frames", "4", "--crop", "8", "--classes", "5", "--batch", "2", "--expect", "3")
	r := newRuntime(t, Options{})
	f := &batchFixture{m: openModel(t, r, path), input: readF32(t, path+".input.f32"), logits: readF32(t, path+".expected.f32")}
	col := newCollector()
	b, err := NewBatcher(f.m, BatcherConfig{Logger: quiet(), MaxBatch: 8, MaxWait: confkit.Duration(10 * time.Millisecond)}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	if b.MaxBatch() != 2 {
		t.Fatalf("MaxBatch = %d, want the model's 2", b.MaxBatch())
	}
	runBatcher(t, b)
	for i := 0; i < 3; i++ {
		if err := b.Submit(f.clip(fmt.Sprint("s", i), 0, i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range col.wait(t, 3, 10*time.Second) {
		f.checkScores(t, r, int(r.Stream[1]-'0'))
		if r.BatchSize > 2 {
			t.Fatalf("batch of %d", r.BatchSize)
		}
	}
	if st := b.Stats(); st.Failed != 0 || st.Scored != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// A failed model call still reports every clip it took, with Err set and no scores, and counts
// them as failed: a caller waiting for a stream's result is never stranded.
func TestBatcherReportsFailedCalls(t *testing.T) {
	f := newBatchFixture(t, 2)
	col := newCollector()
	b, err := NewBatcher(f.m, BatcherConfig{Logger: quiet(), MaxBatch: 2, MaxWait: confkit.Duration(time.Hour)}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	runBatcher(t, b)
	if err := f.m.Close(); err != nil { // every later call fails
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := b.Submit(f.clip(fmt.Sprint("s", i), 0, i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range col.wait(t, 2, 10*time.Second) {
		if r.Err == nil || r.Scores != nil {
			t.Fatalf("result of a failed call: %+v", r)
		}
	}
	if st := b.Stats(); st.Failed != 2 || st.Errors != 1 || st.Scored != 0 {
		t.Fatalf("stats %+v", st)
	}
}
