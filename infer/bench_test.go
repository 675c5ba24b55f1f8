package infer

import (
	"context"
	"testing"
	"time"

	"github.com/actionstream/actionstream/confkit"
)

func TestMeasure(t *testing.T) {
	r := newRuntime(t, Options{})
	m := openModel(t, r, makeModel(t))
	tp, err := Measure(context.Background(), m, 4, MeasureOptions{Warmup: 2, Duration: 5 * time.Second, MaxCalls: 20})
	if err != nil {
		t.Fatal(err)
	}
	if tp.Calls != 20 || tp.Clips != 80 || tp.ClipsPerSec <= 0 || tp.P50 <= 0 || tp.P99 < tp.P50 {
		t.Fatalf("%v", tp)
	}
	t.Log(tp)
}

func TestMeasureBatcher(t *testing.T) {
	r := newRuntime(t, Options{})
	m := openModel(t, r, makeModel(t))
	tp, err := MeasureBatcher(context.Background(), m, BatcherConfig{MaxBatch: 4, MaxWait: confkit.Duration(time.Second), Logger: quiet()}, 4,
		MeasureOptions{Warmup: 2, Duration: 5 * time.Second, MaxCalls: 20})
	if err != nil {
		t.Fatal(err)
	}
	// Four streams each with one clip in flight fill every batch of four, so the one-second
	// MaxWait never fires; a batcher that waited for it would take 20 s here.
	if tp.Calls != 20 || tp.Clips != 80 || tp.Batch != 4 || tp.Elapsed > 4*time.Second {
		t.Fatalf("%v", tp)
	}
	t.Log(tp)
}
