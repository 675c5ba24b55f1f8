package infer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Several workers call the real model at once, each result carries its own clip's scores,
// and the results of one stream come back in its order.
func TestBatcherWorkersRealModel(t *testing.T) {
	const n = 6
	f := newBatchFixture(t, n)
	col := newCollector()
	b, err := NewBatcher(f.m, BatcherConfig{Logger: quiet(), MaxBatch: 1, MaxPending: n, Workers: 3}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	runBatcher(t, b)
	for i := range n {
		if err := b.Submit(f.clip("cam", uint64(i), i)); err != nil {
			t.Fatal(err)
		}
	}
	res := col.wait(t, n, 20*time.Second)
	for i, r := range res {
		if r.Err != nil || r.Seq != uint64(i) {
			t.Fatalf("result %d: seq %d, err %v", i, r.Seq, r.Err)
		}
		f.checkScores(t, r, i)
	}
	if st := b.Stats(); st.Scored != n || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// overlapBackend records how many calls run at once; call i sleeps delays[i%len], so later
// calls can finish before earlier ones.
type overlapBackend struct {
	*slowBackend
	delays []time.Duration

	mu        sync.Mutex
	calls     int
	now, most int
}

func (o *overlapBackend) Infer(ctx context.Context, in []float32, n int) (Outputs, error) {
	o.mu.Lock()
	d := o.delays[o.calls%len(o.delays)]
	o.calls++
	o.now++
	o.most = max(o.most, o.now)
	o.mu.Unlock()
	time.Sleep(d)
	out, err := o.slowBackend.Infer(ctx, in, n)
	o.mu.Lock()
	o.now--
	o.mu.Unlock()
	return out, err
}

// Workers overlap their model calls, and a batch that finishes early is handed over after the
// batches taken before it: results are handled one at a time, in the order the clips were queued.
func TestBatcherWorkersDeliverInOrder(t *testing.T) {
	be := &overlapBackend{slowBackend: newSlowBackend(0, nil), delays: []time.Duration{40 * time.Millisecond, 5 * time.Millisecond, 15 * time.Millisecond}}
	var (
		mu       sync.Mutex
		order    []string
		inHandle bool
		overlap  bool
	)
	done := make(chan struct{})
	const streams, per = 2, 15
	handle := func(r Result) {
		mu.Lock()
		if inHandle {
			overlap = true
		}
		inHandle = true
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		inHandle = false
		order = append(order, fmt.Sprintf("%s/%d", r.Stream, r.Seq))
		if len(order) == streams*per {
			close(done)
		}
		mu.Unlock()
	}
	b, err := NewBatcher(be, BatcherConfig{Logger: quiet(), MaxBatch: 1, MaxPending: per, Workers: 3}, handle)
	if err != nil {
		t.Fatal(err)
	}
	runBatcher(t, b)
	var want []string
	for i := range per {
		for s := range streams {
			c := be.clip(fmt.Sprintf("cam%d", s), uint64(i))
			want = append(want, fmt.Sprintf("%s/%d", c.Stream, c.Seq))
			if err := b.Submit(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d of %d results", len(order), streams*per)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("results in order\n%v\nwant\n%v", order, want)
	}
	if overlap {
		t.Errorf("two results were handled at once")
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if be.most < 2 {
		t.Errorf("at most %d model calls ran at once with 3 workers", be.most)
	}
}

// batcher.workers out of range is refused with its key.
func TestBatcherWorkersValidated(t *testing.T) {
	for _, w := range []int{-1, maxWorkers + 1} {
		_, err := NewBatcher(newSlowBackend(0, nil), BatcherConfig{Workers: w}, func(Result) {})
		if err == nil || !strings.Contains(err.Error(), "workers") {
			t.Errorf("workers %d: %v", w, err)
		}
	}
}

// firstSlowBackend makes its first call slow and the rest quick, and counts the calls started.
type firstSlowBackend struct {
	*slowBackend
	first time.Duration

	mu            sync.Mutex
	started       int
	whenFirstDone int // calls started when the first call ended
}

func (f *firstSlowBackend) Infer(ctx context.Context, in []float32, n int) (Outputs, error) {
	f.mu.Lock()
	i := f.started
	f.started++
	f.mu.Unlock()
	d := time.Millisecond
	if i == 0 {
		d = f.first
	}
	time.Sleep(d)
	if i == 0 {
		f.mu.Lock()
		f.whenFirstDone = f.started
		f.mu.Unlock()
	}
	return f.slowBackend.Infer(ctx, in, n)
}

func (f *firstSlowBackend) calls() (started, whenFirstDone int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started, f.whenFirstDone
}

// twoWorkersOn queues n clips of one stream and starts a two-worker batcher on be.
func twoWorkersOn(t *testing.T, be *firstSlowBackend, n int, handle func(Result)) {
	t.Helper()
	b, err := NewBatcher(be, BatcherConfig{Logger: quiet(), MaxBatch: 1, MaxPending: n, Workers: 2}, handle)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := b.Submit(be.clip("cam", uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	runBatcher(t, b)
}

// inOrder fails unless the results are the stream's clips 0, 1, ... unfailed.
func inOrder(t *testing.T, res []Result) {
	t.Helper()
	for i, r := range res {
		if r.Seq != uint64(i) || r.Err != nil {
			t.Fatalf("result %d: seq %d, err %v", i, r.Seq, r.Err)
		}
	}
}

// A worker whose call ends before an earlier one parks its results and goes on to the next
// clips (`run`'s two calls at once: one shares a core with the decoder and ends later), up to
// Workers parked batches; the results still come out in order.
func TestBatcherWorkerGoesOnPastAnEarlierCall(t *testing.T) {
	be := &firstSlowBackend{slowBackend: newSlowBackend(0, nil), first: 300 * time.Millisecond}
	col := newCollector()
	const n = 8
	twoWorkersOn(t, be, n, col.handle)
	inOrder(t, col.wait(t, n, 10*time.Second))
	// Calls 1, 2 and 3 ran on the other worker during call 0: two parked, the third waiting.
	if _, at := be.calls(); at != 4 {
		t.Errorf("%d calls had started when the first ended; want 4 (1 + 2 parked + 1 waiting for its turn)", at)
	}
}

// A handler that blocks holds the workers back: no more than Workers batches are parked
// behind it, whatever is queued.
func TestBatcherBlockedHandlerBoundsParkedBatches(t *testing.T) {
	be := &firstSlowBackend{slowBackend: newSlowBackend(0, nil), first: time.Millisecond}
	release := make(chan struct{})
	var once sync.Once
	col := newCollector()
	const n = 12
	twoWorkersOn(t, be, n, func(r Result) {
		once.Do(func() { <-release })
		col.handle(r)
	})
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if started, _ := be.calls(); started >= 4 {
			break
		}
	}
	time.Sleep(200 * time.Millisecond) // time for a fifth call, were one allowed
	if started, _ := be.calls(); started != 4 {
		t.Errorf("%d calls started behind a blocked handler; want 4 (the one being handled, 2 parked, 1 waiting)", started)
	}
	close(release)
	inOrder(t, col.wait(t, n, 10*time.Second))
}
