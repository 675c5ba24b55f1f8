package fit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/synth"
	"github.com/actionstream/actionstream/training/x3d"
)

// tinyData makes a two-class synthetic motion set and prepares it (T=4, τ=6, S=32).
func tinyData(t *testing.T, ctx context.Context, videos int) (string, x3d.Arch) {
	t.Helper()
	dir := t.TempDir()
	plan, err := synth.NewPlan(synth.Config{Videos: videos, Seed: 7, Width: 64, Height: 48,
		Classes: []string{synth.ClassLeft, synth.ClassRight}, FPS: []synth.FPSWeight{{FPS: 30, Weight: 1}},
		MinSeconds: 2, MaxSeconds: 2.5, ValFraction: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	if err := synth.Generate(ctx, plan, dir, synth.Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	ds := filepath.Join(dir, "ds")
	if _, err := dataset.Prepare(ctx, filepath.Join(dir, "labels.csv"), ds, dataset.Config{
		Labels: []string{synth.ClassLeft, synth.ClassRight}, Frames: 4, SamplingRate: 6, Size: 32, Workers: 2,
	}); err != nil {
		t.Fatal(err)
	}
	a, err := x3d.Build(x3d.Factors{Frames: 4, SamplingRate: 6, Crop: 32, Width: 0.5, Bottleneck: 1.5, Depth: 0.5}, "tiny", 2)
	if err != nil {
		t.Fatal(err)
	}
	return ds, a
}

// A whole run: trains, draws the bar, writes metrics.json and curves.png, exports an
// ONNX model that ONNX Runtime opens with complete metadata; a resumed run trains
// only the epochs that are left.
func TestFitExportResume(t *testing.T) {
	testkit.NeedsPython(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	data, arch := tinyData(t, ctx, 12)
	r, err := python.New(ctx, python.Options{CacheDir: t.TempDir(), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	var bar bytes.Buffer
	var epochs []int
	res, err := Fit(ctx, r, Options{Arch: arch, Data: data, Out: out, Name: "tiny-lr",
		Recipe: Recipe{Epochs: 2, Batch: 4, LR: 0.02, JitterMin: 32, JitterMax: 36, Flip: true},
		Bar:    &bar, OnEpoch: func(e Epoch) { epochs = append(epochs, e.Epoch) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bar output: %q", bar.String())
	if !strings.Contains(bar.String(), "ETA") || !strings.Contains(bar.String(), "epoch 2: train loss") {
		t.Errorf("bar output lacks the bar or the epoch summary: %q", bar.String())
	}
	if len(epochs) != 2 || epochs[1] != 2 {
		t.Errorf("OnEpoch saw %v", epochs)
	}
	var m Metrics
	b, err := os.ReadFile(filepath.Join(out, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.History) != 2 || m.ValTop1 == nil || m.TrainClips == 0 || m.ValClips == 0 || m.ClipsPerS <= 0 ||
		len(m.PerClassVal) != 2 || m.Recipe.Dropout != arch.Head.Dropout || !m.Recipe.Flip {
		t.Errorf("metrics: %+v", m)
	}
	if m.History[0].LR <= 0 || m.History[1].LR >= m.History[0].LR {
		t.Errorf("cosine schedule: lr per epoch %v, %v", m.History[0].LR, m.History[1].LR)
	}
	f, err := os.Open(res.CurvesPath)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 1280 {
		t.Fatalf("curves.png: %v %v", err, img)
	}
	meta, err := infer.ReadMetadata(res.Model)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Name != "tiny-lr" || len(meta.Labels) != 2 || meta.Labels[0] != synth.ClassLeft || meta.Frames != 4 ||
		meta.SamplingRate != 6 || meta.CropSize != 32 || meta.ResizeShortSide != 36 || meta.MACs != arch.Cost().MACs ||
		!strings.Contains(meta.TrainedOn, "train clips") || meta.Mean != dataset.DefaultMean {
		t.Errorf("metadata: %+v", meta)
	}
	rt, err := infer.NewRuntime(infer.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	mod, err := rt.Open(res.Model)
	if err != nil {
		t.Fatal(err)
	}
	mod.Close()

	// Resume to 3 epochs: one more epoch, history continues.
	res2, err := Fit(ctx, r, Options{Arch: arch, Data: data, Out: out, Resume: true, NoExport: true,
		Recipe: Recipe{Epochs: 3, Batch: 4, LR: 0.02}})
	if err != nil {
		t.Fatal(err)
	}
	if h := res2.Metrics.History; len(h) != 3 || h[0].TrainLoss != m.History[0].TrainLoss || h[2].Epoch != 3 {
		t.Errorf("resumed history: %+v", h)
	}
	if res2.Model != "" {
		t.Errorf("NoExport wrote %s", res2.Model)
	}

	// A dataset that does not fit the architecture is refused before training.
	bad := arch
	bad.NumClasses = 3
	if _, err := Fit(ctx, r, Options{Arch: bad, Data: data, Out: out}); !errors.Is(err, ErrData) {
		t.Errorf("3-class arch on 2-label data: %v", err)
	}
	if _, err := Fit(ctx, r, Options{Arch: arch, Data: data, Out: out, Device: "tpu"}); !errors.Is(err, ErrOptions) {
		t.Errorf("device tpu: %v", err)
	}
	for _, o := range []Options{{RoINegatives: 2}, {Task: TaskRoI, RoINegatives: -1}} {
		o.Arch, o.Data, o.Out = arch, data, out
		if _, err := Fit(ctx, r, o); !errors.Is(err, ErrOptions) {
			t.Errorf("task %q, roi negatives %d: %v", o.Task, o.RoINegatives, err)
		}
	}
}
