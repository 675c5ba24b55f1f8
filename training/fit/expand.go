package fit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/expand"
	"github.com/actionstream/actionstream/training/python"
)

// ExpandTrainer trains the candidates of the progressive expansion search
// (training/expand) for real: each candidate's clip geometry (T, τ, crop) gets its own
// dataset, prepared once from the labelled videos through the serving decode path and
// shared by every candidate with that geometry; the candidate is fitted for its
// schedule and scored by its top-1 on the validation split.
type ExpandTrainer struct {
	Runner  *python.Runner
	Labels  string   // labels CSV of the videos (path,label,split)
	Classes []string // label order; nil = the CSV's order of appearance
	// DataDir caches the prepared datasets, one subdirectory per geometry.
	DataDir string
	Recipe  Recipe // Epochs is each candidate's own
	Device  string
	// ClipsPerVideo is K clips per video when preparing (0 = all of its grid).
	ClipsPerVideo int
	// ResizeRatio sets the short side R = round(crop × ratio); 0 = 8/7 (X3D's test resize).
	ResizeRatio float64
	// Splits prepared: train and the one scored; ValSplit "" = "val".
	ValSplit string
	Workers  int // videos decoded in parallel while preparing; 0 = NumCPU
	Bar      io.Writer
	Logger   *slog.Logger

	mu   sync.Mutex
	prep map[string]*prepared
}

type prepared struct {
	once sync.Once
	dir  string
	err  error
}

var _ expand.Trainer = (*ExpandTrainer)(nil)

// Train fits one candidate (resuming from its directory's checkpoint if a previous
// run was interrupted) and reports its validation top-1.
func (t *ExpandTrainer) Train(ctx context.Context, c expand.Candidate) (expand.Result, error) {
	a := c.Arch
	val := t.ValSplit
	if val == "" {
		val = "val"
	}
	data, err := t.dataset(ctx, a.Frames, a.SamplingRate, a.CropSize, val)
	if err != nil {
		return expand.Result{}, err
	}
	rec := t.Recipe
	rec.Epochs = max(c.Epochs, 1)
	o := Options{Arch: a, Data: data, Out: c.Dir, Name: c.Name, Recipe: rec, Device: t.Device,
		Resume: true, ValSplit: val, Bar: t.Bar} // every candidate is exported: the final one may be a path point
	res, err := Fit(ctx, t.Runner, o)
	if err != nil {
		return expand.Result{}, fmt.Errorf("fit: candidate %s: %w", c.Name, err)
	}
	m := res.Metrics
	if m.ValTop1 == nil {
		return expand.Result{}, fmt.Errorf("%w: candidate %s: no validation clips in split %q", ErrData, c.Name, val)
	}
	out := expand.Result{Accuracy: *m.ValTop1, Model: res.Model, Seconds: m.Seconds}
	if m.ValTop5 != nil {
		out.Top5 = *m.ValTop5
	}
	if n := len(m.History); n > 0 {
		out.Loss = m.History[n-1].TrainLoss
	}
	return out, nil
}

// dataset prepares (once per geometry, also across concurrent candidates) the clips
// for T, τ, S and returns their directory.
func (t *ExpandTrainer) dataset(ctx context.Context, frames, tau, crop int, val string) (string, error) {
	ratio := t.ResizeRatio
	if ratio == 0 {
		ratio = 8.0 / 7
	}
	resize := max(int(math.Floor(float64(crop)*ratio)), crop)
	key := fmt.Sprintf("t%d-tau%d-s%d-r%d-k%d", frames, tau, crop, resize, t.ClipsPerVideo)
	t.mu.Lock()
	if t.prep == nil {
		t.prep = map[string]*prepared{}
	}
	p := t.prep[key]
	if p == nil {
		p = &prepared{dir: filepath.Join(t.DataDir, key)}
		t.prep[key] = p
	}
	t.mu.Unlock()
	p.once.Do(func() {
		if _, err := dataset.Open(p.dir); err == nil {
			return // prepared by an earlier run
		}
		tmp := p.dir + ".tmp"
		os.RemoveAll(tmp)
		_, p.err = dataset.Prepare(ctx, t.Labels, tmp, dataset.Config{
			Labels: t.Classes, Frames: frames, SamplingRate: tau, Size: crop, ResizeShortSide: resize,
			StoreSize: resize, ClipsPerVideo: t.ClipsPerVideo, Splits: []string{"train", val},
			Workers: t.Workers, Logger: t.Logger,
		})
		if p.err == nil {
			os.RemoveAll(p.dir)
			if err := os.Rename(tmp, p.dir); err != nil {
				p.err = fmt.Errorf("fit: %w", err)
			}
		}
	})
	if p.err != nil {
		// A cancelled or failed preparation is retried by the next caller.
		t.mu.Lock()
		if t.prep[key] == p {
			delete(t.prep, key)
		}
		t.mu.Unlock()
		return "", p.err
	}
	return p.dir, nil
}
