package pipeline

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/infer"
)

// fakeBatcher takes one clip at a time, like the batcher with one stream, and hands it back
// when the test says.
type fakeBatcher struct {
	mu    sync.Mutex
	held  *clipper.Clip // the stream's clip in the batcher: a second one would replace it
	taken []uint64
	in    chan uint64
}

func (f *fakeBatcher) submit(c *clipper.Clip) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held != nil {
		panic("a second clip of the stream reached the batcher: it would replace the first")
	}
	f.held = c
	f.taken = append(f.taken, c.Seq)
	f.in <- c.Seq
	return true
}

func (f *fakeBatcher) score() {
	f.mu.Lock()
	f.held = nil
	f.mu.Unlock()
}

// The decoder runs up to depth clips ahead of inference, no clip is replaced or lost, clips
// reach the batcher in order, and drain waits for the last one.
func TestRunAheadQueuesInOrderWithinDepth(t *testing.T) {
	q := newRunAhead(1<<20, 1) // 4 MiB clips: depth 8
	if q.depth != 8 {
		t.Fatalf("depth %d for 4 MiB clips, want 8", q.depth)
	}
	f := &fakeBatcher{in: make(chan uint64, 100)}
	const clips = 20
	pushed := make(chan uint64, clips)
	pushesDone := make(chan struct{})
	go func() {
		defer close(pushesDone)
		for i := range uint64(clips) {
			q.push(&clipper.Clip{Seq: i}, f.submit)
			pushed <- i
		}
	}()
	// Nothing is scored yet: clip 0 is in the batcher and 8 more are queued; the decoder
	// waits on the tenth.
	for range 9 {
		select {
		case <-pushed:
		case <-time.After(5 * time.Second):
			t.Fatal("the decoder blocked before the queue was full")
		}
	}
	select {
	case i := <-pushed:
		t.Fatalf("clip %d pushed with 8 clips queued: the queue is unbounded", i)
	case <-time.After(100 * time.Millisecond):
	}
	drained := make(chan struct{})
	go func() { // as runStream: after the decoder's last clip
		<-pushesDone
		q.drain()
		close(drained)
	}()
	for range clips {
		<-f.in
		select {
		case <-drained:
			t.Fatal("drain returned with a clip still in the batcher")
		default:
		}
		f.score()
		q.back(f.submit)
	}
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("drain did not return after the last clip came back")
	}
	for i, s := range f.taken {
		if s != uint64(i) {
			t.Fatalf("batcher took clips %v, want 0..%d in order", f.taken, clips-1)
		}
	}
	if len(f.taken) != clips {
		t.Fatalf("batcher took %d clips, want %d", len(f.taken), clips)
	}
}

// A clip the batcher refuses (closed) does not stall the queue: the next one goes in.
func TestRunAheadRefusedClipMovesOn(t *testing.T) {
	q := newRunAhead(100<<20, 1) // larger than the byte bound: depth 2
	if q.depth != 2 {
		t.Fatalf("depth %d for 400 MiB clips, want 2", q.depth)
	}
	var got []uint64
	refuse := func(c *clipper.Clip) bool { got = append(got, c.Seq); return false }
	q.push(&clipper.Clip{Seq: 0}, refuse)
	q.push(&clipper.Clip{Seq: 1}, refuse)
	q.drain()
	if len(got) != 2 {
		t.Fatalf("submitted %v", got)
	}
}

func TestOneShotThreads(t *testing.T) {
	for _, tc := range []struct {
		in               infer.Options
		cores            int
		threads, workers int
		noSpinning       bool
	}{
		{infer.Options{}, 1, 1, 1, false}, // one thread: no pool, nothing to spin
		{infer.Options{}, 2, 1, 2, false}, // two one-thread calls beside the decoder
		{infer.Options{}, 3, 1, 2, false},
		{infer.Options{Provider: infer.ProviderCPU}, 16, 8, 2, true},
		{infer.Options{Threads: 3}, 16, 3, 1, true},        // explicit: one call at a time
		{infer.Options{Provider: "cuda"}, 16, 0, 1, false}, // ORT's own default on a GPU
	} {
		if w := OneShotWorkers(tc.in, tc.cores); w != tc.workers {
			t.Errorf("%+v on %d cores: %d workers, want %d", tc.in, tc.cores, w, tc.workers)
		}
		// Model calls yield the CPU to the decoder; a GPU call only feeds the device.
		if n := OneShotNice(tc.in); (n > 0) != (tc.in.Provider != "cuda") {
			t.Errorf("%+v: model calls at nice +%d", tc.in, n)
		}
		got := OneShotThreads(tc.in, tc.cores)
		if got.Threads != tc.threads || (got.SessionConfig[spinKey] == "0") != tc.noSpinning {
			t.Errorf("%+v on %d cores: threads %d, session config %v; want %d threads, spinning off %v",
				tc.in, tc.cores, got.Threads, got.SessionConfig, tc.threads, tc.noSpinning)
		}
		// One warm-up call where a core is free for it while the first clip decodes, and only
		// one call at a time.
		if warm := tc.cores > 1 && tc.in.Provider != "cuda" && tc.workers == 1; slices.Equal(got.WarmUpBatches, []int{1}) != warm {
			t.Errorf("%+v on %d cores: warm-up batches %v, want [1]: %v", tc.in, tc.cores, got.WarmUpBatches, warm)
		}
	}
	// An explicit setting is kept.
	in := infer.Options{SessionConfig: map[string]string{spinKey: "1"}}
	if got := OneShotThreads(in, 4); got.SessionConfig[spinKey] != "1" {
		t.Errorf("explicit spinning overridden: %v", got.SessionConfig)
	}
}

// With two workers a stream keeps two clips in the batcher, never three, and results coming
// back on other goroutines while the decoder pushes keep the clips in order.
func TestRunAheadTwoInFlight(t *testing.T) {
	q := newRunAhead(1<<20, 2)
	var mu sync.Mutex
	var held, most int
	var taken []uint64
	in := make(chan uint64, 100)
	submit := func(c *clipper.Clip) bool {
		mu.Lock()
		defer mu.Unlock()
		held++
		most = max(most, held)
		taken = append(taken, c.Seq)
		in <- c.Seq
		return true
	}
	const clips = 40
	go func() {
		for i := range uint64(clips) {
			q.push(&clipper.Clip{Seq: i}, submit)
		}
	}()
	var wg sync.WaitGroup
	for range clips {
		<-in
		mu.Lock()
		held--
		mu.Unlock()
		wg.Go(func() { q.back(submit) }) // results come back on the batcher's goroutines
	}
	wg.Wait()
	q.drain()
	mu.Lock()
	defer mu.Unlock()
	if most != 2 {
		t.Errorf("at most %d clips in the batcher, want 2", most)
	}
	for i, s := range taken {
		if s != uint64(i) {
			t.Fatalf("batcher took clips %v, want 0..%d in order", taken, clips-1)
		}
	}
	if len(taken) != clips {
		t.Fatalf("batcher took %d clips, want %d", len(taken), clips)
	}
}
