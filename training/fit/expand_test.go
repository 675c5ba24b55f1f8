package fit

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/training/expand"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/synth"
	"github.com/actionstream/actionstream/training/x3d"
)

// A real micro search: tiny networks trained for one epoch on a few synthetic videos,
// every candidate through dataset preparation, PyTorch and the validation split; a
// second run resumes without training anything again.
func TestExpandMicroSearch(t *testing.T) {
	testkit.NeedsPython(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	classes := []string{synth.ClassLeft, synth.ClassRight, synth.ClassStatic}
	plan, err := synth.NewPlan(synth.Config{Videos: 9, Seed: 11, Width: 64, Height: 48, Classes: classes,
		FPS: []synth.FPSWeight{{FPS: 30, Weight: 1}}, MinSeconds: 2, MaxSeconds: 2, ValFraction: 0.34})
	if err != nil {
		t.Fatal(err)
	}
	if err := synth.Generate(ctx, plan, dir, synth.Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	r, err := python.New(ctx, python.Options{CacheDir: t.TempDir(), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	base := x3d.Factors{Frames: 1, SamplingRate: 6, Crop: 32, Width: 0.5, Bottleneck: 1, Depth: 0.34}
	b, err := x3d.Build(base, "base", len(classes))
	if err != nil {
		t.Fatal(err)
	}
	tr := &ExpandTrainer{Runner: r, Labels: filepath.Join(dir, "labels.csv"), Classes: classes,
		DataDir: filepath.Join(dir, "data"), Recipe: Recipe{Batch: 4, LR: 0.02}, ClipsPerVideo: 2, Workers: 2}
	counting := &countTrainer{inner: tr, mu: make(chan struct{}, 1)}
	cfg := expand.Config{Out: filepath.Join(dir, "search"), NumClasses: len(classes), TargetMACs: 3 * b.Cost().MACs,
		Base: base, Axes: []x3d.Axis{x3d.AxisFrames, x3d.AxisWidth}, Epochs: 1, Workers: 2}
	tj, err := expand.Run(ctx, cfg, counting)
	if err != nil {
		t.Fatal(err)
	}
	if !tj.Done || len(tj.Steps) == 0 || tj.Contraction == nil {
		t.Fatalf("trajectory not finished: %+v", tj)
	}
	trained := counting.n
	if trained < 3 {
		t.Fatalf("only %d candidates trained", trained)
	}
	for _, s := range tj.Steps {
		for _, c := range s.Candidates {
			if c.Result.Accuracy < 0 || c.Result.Accuracy > 1 || c.Result.Seconds <= 0 {
				t.Errorf("%s: result %+v", c.Name, c.Result)
			}
		}
	}
	// Both temporal geometries were prepared once each, from the same videos.
	ents, err := os.ReadDir(tr.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 2 {
		t.Errorf("prepared datasets: %v", ents)
	}
	// The contracted final model is exported with the search's label order.
	if m := tj.Contraction.Final.Result.Model; m == "" {
		t.Errorf("contraction has no exported model: %+v", tj.Contraction)
	} else if meta, err := infer.ReadMetadata(m); err != nil || meta.Labels[2] != synth.ClassStatic {
		t.Errorf("contracted model %s: %+v %v", m, meta, err)
	}

	// Resuming a finished search trains nothing.
	again := &countTrainer{inner: tr, mu: make(chan struct{}, 1)}
	if _, err := expand.Run(ctx, cfg, again); err != nil {
		t.Fatal(err)
	}
	if again.n != 0 {
		t.Errorf("resumed search trained %d candidates again", again.n)
	}
}

type countTrainer struct {
	inner expand.Trainer
	mu    chan struct{}
	n     int
}

func (c *countTrainer) Train(ctx context.Context, cand expand.Candidate) (expand.Result, error) {
	res, err := c.inner.Train(ctx, cand)
	if err == nil {
		c.lock()
		c.n++
		c.unlock()
	}
	return res, err
}

func (c *countTrainer) lock() {
	if c.mu == nil {
		panic("countTrainer used before init")
	}
	c.mu <- struct{}{}
}
func (c *countTrainer) unlock() { <-c.mu }
