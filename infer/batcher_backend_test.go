package infer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/confkit"
)

// slowBackend is a model whose calls take perClip×n, plus stall for the calls listed in
// stalls (by call number): the load a 2-core machine puts on inference while the decoders of
// eight 720p streams and other processes compete for the cores. Its logits are row i = i.
type slowBackend struct {
	meta    Metadata
	perClip time.Duration
	stalls  map[int]time.Duration

	mu    sync.Mutex
	calls int
	sizes []int
}

func newSlowBackend(perClip time.Duration, stalls map[int]time.Duration) *slowBackend {
	return &slowBackend{perClip: perClip, stalls: stalls, meta: Metadata{Name: "slow", Labels: []string{"a", "b", "c"},
		Frames: 4, SamplingRate: 12, CropSize: 2, Score: ScoreSoftmax}}
}

func (s *slowBackend) Info() BackendInfo {
	return BackendInfo{Meta: s.meta, Digest: "sha256:slow", Where: "test/slow"}
}

func (s *slowBackend) Infer(_ context.Context, _ []float32, n int) (Outputs, error) {
	s.mu.Lock()
	call := s.calls
	s.calls++
	s.sizes = append(s.sizes, n)
	s.mu.Unlock()
	time.Sleep(time.Duration(n)*s.perClip + s.stalls[call])
	logits := make([]float32, n*len(s.meta.Labels))
	for i := range n {
		logits[i*len(s.meta.Labels)] = float32(i)
	}
	return Outputs{OutputLogits: {Shape: []int64{int64(n), int64(len(s.meta.Labels))}, Data: logits}}, nil
}

func (s *slowBackend) clip(stream string, seq uint64) *clipper.Clip {
	return &clipper.Clip{Stream: stream, Seq: seq, Frames: s.meta.Frames, Size: s.meta.CropSize, Tensor: make([]float32, s.meta.ClipLen())}
}

// serveStreams submits one clip per hop for each of n streams (the clipper's pace at 30 fps)
// for clips hops, the streams a few ms apart as decoders are, and returns what the batcher
// counted once everything submitted is back.
func serveStreams(t *testing.T, be Backend, cfg BatcherConfig, streams, clips int, hop time.Duration) (BatcherStats, map[string][]uint64) {
	t.Helper()
	var mu sync.Mutex
	order := map[string][]uint64{}
	cfg.Logger = quiet()
	b, err := NewBatcher(be, cfg, func(r Result) {
		mu.Lock()
		order[r.Stream] = append(order[r.Stream], r.Seq)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	b.SetStreams(streams)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var wg sync.WaitGroup
	for s := range streams {
		wg.Go(func() {
			time.Sleep(time.Duration(s) * 3 * time.Millisecond)
			for seq := range clips {
				if err := b.Submit(be.(*slowBackend).clip(fmt.Sprint("cam", s), uint64(seq))); err != nil {
					t.Error(err)
				}
				time.Sleep(hop)
			}
		})
	}
	wg.Wait()
	time.Sleep(10 * time.Second) // everything waiting is scored
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return b.Stats(), order
}

// The stale drops of `serve` at 8 streams: the demo model's clips come every 0.8 s per stream,
// a batch of 8 costs ~100 ms, but under CPU contention a model call now and then takes over a
// second (measured: 0.5-1.3 s with eight 720p decoders on 2 cores). With one waiting clip per
// stream (latest wins) every stream whose next clip arrives during such a call loses a clip;
// with two, the next batch takes both and nothing is lost. Deterministic: synctest's clock.
func TestBatcherRidesOutASlowCall(t *testing.T) {
	const streams, clips, hop = 8, 40, 800 * time.Millisecond
	stalls := map[int]time.Duration{5: 1300 * time.Millisecond, 17: 900 * time.Millisecond, 30: 1500 * time.Millisecond}
	run := func(pending int) (BatcherStats, map[string][]uint64) {
		var st BatcherStats
		var order map[string][]uint64
		synctest.Test(t, func(t *testing.T) {
			cfg := BatcherConfig{MaxBatch: 8, MaxPending: pending, MaxWait: confkit.Duration(40 * time.Millisecond)}
			st, order = serveStreams(t, newSlowBackend(12*time.Millisecond, stalls), cfg, streams, clips, hop)
		})
		return st, order
	}

	old, _ := run(1)
	if old.Dropped == 0 {
		t.Fatalf("latest-wins (max_pending 1) dropped nothing under stalls: the test no longer shows the fault (%+v)", old)
	}
	t.Logf("max_pending 1: %d of %d clips dropped as stale", old.Dropped, old.Submitted)

	st, order := run(0) // the default
	if st.Dropped != 0 || st.Scored != streams*clips || st.Submitted != streams*clips {
		t.Fatalf("default max_pending: dropped %d, scored %d of %d submitted, want none dropped", st.Dropped, st.Scored, st.Submitted)
	}
	for id, seqs := range order {
		for i, seq := range seqs {
			if seq != uint64(i) {
				t.Fatalf("%s scored out of order: %v", id, seqs)
			}
		}
	}
	// The backlog after a stall goes in the next batch, not one clip per stream per call.
	if st.BatchSizes[8] == 0 {
		t.Fatalf("no full batch after a stall: %v", st.BatchSizes)
	}
}

// Under sustained overload (every call slower than a hop) clips are still dropped, oldest
// first, and no stream ever has more than max_pending clips waiting: latency stays bounded.
func TestBatcherOverloadDropsOldest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		be := newSlowBackend(150*time.Millisecond, nil) // a batch of 8 takes 1.2 s, a hop is 0.8 s
		cfg := BatcherConfig{MaxBatch: 8, MaxPending: 2, MaxWait: confkit.Duration(40 * time.Millisecond)}
		st, order := serveStreams(t, be, cfg, 8, 20, 800*time.Millisecond)
		if st.Dropped == 0 || st.Scored+st.Dropped != st.Submitted {
			t.Fatalf("overload: dropped %d, scored %d, submitted %d", st.Dropped, st.Scored, st.Submitted)
		}
		for id, seqs := range order {
			for i := 1; i < len(seqs); i++ {
				if seqs[i] <= seqs[i-1] {
					t.Fatalf("%s scored out of order: %v", id, seqs)
				}
			}
			if last := seqs[len(seqs)-1]; last != 19 {
				t.Fatalf("%s: the newest clip (19) was not scored, last %d: drops must take the oldest", id, last)
			}
		}
		be.mu.Lock()
		defer be.mu.Unlock()
		for _, n := range be.sizes {
			if n > 8 {
				t.Fatalf("batch of %d", n)
			}
		}
	})
}

// Three clips of one stream with room for two: the oldest is dropped and released at once,
// the two newer ones are scored in order, and the stream keeps its first slot's place.
func TestBatcherMaxPendingKeepsOrder(t *testing.T) {
	be := newSlowBackend(0, nil)
	col := newCollector()
	b, err := NewBatcher(be, BatcherConfig{Logger: quiet(), MaxBatch: 8, MaxPending: 2, MaxWait: confkit.Duration(20 * time.Millisecond)}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	a0, a1, bb, a2 := be.clip("a", 0), be.clip("a", 1), be.clip("b", 0), be.clip("a", 2)
	for _, c := range []*clipper.Clip{a0, a1, bb, a2} {
		if err := b.Submit(c); err != nil {
			t.Fatal(err)
		}
	}
	if a0.Tensor != nil || a1.Tensor == nil || a2.Tensor == nil {
		t.Fatal("only the oldest clip of the full stream is released")
	}
	if st := b.Stats(); st.Dropped != 1 || st.DroppedByStream["a"] != 1 || st.Pending != 3 {
		t.Fatalf("stats %+v", st)
	}
	runBatcher(t, b)
	res := col.wait(t, 3, 10*time.Second)
	var seqs []string
	for _, r := range res {
		seqs = append(seqs, fmt.Sprintf("%s%d", r.Stream, r.Seq))
	}
	// Queue slots: [a (now a1), a (now a2), b]: a's clips first, in order.
	if fmt.Sprint(seqs) != "[a1 a2 b0]" {
		t.Fatalf("batch order %v, want [a1 a2 b0]", seqs)
	}
}

// wrongBackend answers every call with outs.
type wrongBackend struct {
	*slowBackend
	outs Outputs
}

func (w wrongBackend) Infer(context.Context, []float32, int) (Outputs, error) { return w.outs, nil }

// A backend whose answer does not fit the model contract fails the batch with a message that
// says what came back and what was wanted; extra outputs reach the result row by row.
func TestBatcherChecksBackendOutputs(t *testing.T) {
	cases := []struct {
		name string
		outs Outputs
		want string
	}{
		{"no logits", Outputs{"scores": {Shape: []int64{2, 3}, Data: make([]float32, 6)}}, `test/slow answered without a "logits" output`},
		{"wrong classes", Outputs{OutputLogits: {Shape: []int64{2, 4}, Data: make([]float32, 8)}}, "test/slow answered logits of shape [2 4] with 8 values, want [2 3] (3 labels)"},
		{"short data", Outputs{OutputLogits: {Shape: []int64{2, 3}, Data: make([]float32, 5)}}, "of shape [2 3] with 5 values"},
		{"fewer rows", Outputs{OutputLogits: {Shape: []int64{1, 3}, Data: make([]float32, 3)}}, "of shape [1 3]"},
		{"ok with boxes", Outputs{OutputLogits: {Shape: []int64{2, 3}, Data: []float32{1, 0, 0, 0, 1, 0}},
			"boxes": {Shape: []int64{2, 1, 4}, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8}}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := wrongBackend{newSlowBackend(0, nil), tc.outs}
			col := newCollector()
			b, err := NewBatcher(be, BatcherConfig{Logger: quiet(), MaxBatch: 2, MaxWait: confkit.Duration(time.Hour)}, col.handle)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if err := b.Submit(be.clip(fmt.Sprint("s", i), 0)); err != nil {
					t.Fatal(err)
				}
			}
			runBatcher(t, b)
			res := col.wait(t, 2, 10*time.Second)
			for _, r := range res {
				switch {
				case tc.want == "" && r.Err != nil:
					t.Fatalf("unexpected error %v", r.Err)
				case tc.want != "" && (r.Err == nil || !errors.Is(r.Err, ErrBadOutput) || !strings.Contains(r.Err.Error(), tc.want)):
					t.Fatalf("error %v, want ErrBadOutput with %q", r.Err, tc.want)
				}
			}
			if tc.want != "" {
				if st := b.Stats(); st.Failed != 2 || st.Errors != 1 {
					t.Fatalf("stats %+v", st)
				}
				return
			}
			// An output the model's task does not read is ignored; each clip gets its own row.
			best := map[string]string{}
			for _, r := range res {
				best[r.Stream] = r.TopK(1)[0].Label
			}
			if labels := be.Info().Meta.Labels; best["s0"] != labels[0] || best["s1"] != labels[1] {
				t.Fatalf("best labels %v, want s0 %s and s1 %s", best, labels[0], labels[1])
			}
		})
	}
}
