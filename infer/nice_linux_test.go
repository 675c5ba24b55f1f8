package infer

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// niceBackend records the nice value of the OS thread each model call runs on.
type niceBackend struct {
	*slowBackend
	mu    sync.Mutex
	nices []int
}

func mustThreadNice(t *testing.T) int {
	n, err := threadNice()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (b *niceBackend) Infer(ctx context.Context, in []float32, n int) (Outputs, error) {
	nice, _ := threadNice()
	b.mu.Lock()
	b.nices = append(b.nices, nice)
	b.mu.Unlock()
	return b.slowBackend.Infer(ctx, in, n)
}

// With batcher.Nice every model call, the Run goroutine's own included, runs that many nice
// steps down, and the goroutine that called Run keeps its thread's priority afterwards.
func TestBatcherNiceLowersModelCalls(t *testing.T) {
	runtime.LockOSThread() // this test's thread: it must come out of Run as it went in
	defer runtime.UnlockOSThread()
	base := mustThreadNice(t)
	if base >= 19 {
		t.Fatalf("the test runs at nice %d: no lower priority to give", base)
	}
	want := min(base+3, 19)
	be := &niceBackend{slowBackend: newSlowBackend(time.Millisecond, nil)}
	col := newCollector()
	b, err := NewBatcher(be, BatcherConfig{Logger: quiet(), MaxBatch: 1, MaxPending: 8, Workers: 2, Nice: 3}, col.handle)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		for i := range 8 {
			if err := b.Submit(be.clip("cam", uint64(i))); err != nil {
				t.Error(err)
			}
		}
		col.wait(t, 8, 10*time.Second)
		cancel()
		close(done)
	}()
	if err := b.Run(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if got := mustThreadNice(t); got != base {
		t.Errorf("Run's caller came back at nice %d, went in at %d", got, base)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.nices) != 8 {
		t.Fatalf("%d model calls", len(be.nices))
	}
	for i, n := range be.nices {
		if n != want {
			t.Errorf("call %d ran at nice %d, want %d", i, n, want)
		}
	}
}
