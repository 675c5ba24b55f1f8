package eval

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/ingest"
	"github.com/actionstream/actionstream/ingest/demux"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/media"
	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/synth"
	"github.com/actionstream/actionstream/training/x3d"
)

// servingScores runs a video the way the server does (Demux -> Decoder -> Clipper ->
// Model) and returns the mean softmax over all its clips.
func servingScores(t *testing.T, m *infer.Model, path string) []float64 {
	t.Helper()
	meta := m.Meta
	cl, err := clipper.New("s", clipper.Config{Frames: meta.Frames, SamplingRate: meta.SamplingRate, Size: meta.CropSize})
	if err != nil {
		t.Fatal(err)
	}
	mean := make([]float64, len(meta.Labels))
	var clips [][]float32
	dec, err := decode.New(decode.Config{Size: meta.CropSize, ResizeShortSide: meta.ResizeShortSide, Mean: meta.Mean, Std: meta.Std},
		cl, func(c *clipper.Clip) { clips = append(clips, append([]float32(nil), c.Tensor...)); c.Release() })
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	if _, err := demux.Run(context.Background(), media.DemuxConfig{URL: path}, func(p ingest.Packet) error { return dec.Decode(p) }); err != nil {
		t.Fatal(err)
	}
	dec.Flush()
	for _, c := range clips {
		logits, err := m.Run(c, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range infer.Scores(meta, logits) {
			mean[i] += float64(s) / float64(len(clips))
		}
	}
	return mean
}

func argmax(x []float64) int {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] > x[idx[b]] })
	return idx[0]
}

// The 1-crop protocol with all clips predicts exactly what the serving path predicts
// for every video; the 3-crop protocol runs three views per clip at the test crop.
func TestEvalProtocols(t *testing.T) {
	testkit.NeedsPython(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	classes := []string{synth.ClassLeft, synth.ClassRight, synth.ClassUp}
	plan, err := synth.NewPlan(synth.Config{Videos: 6, Seed: 3, Width: 80, Height: 48, Classes: classes,
		FPS: []synth.FPSWeight{{FPS: 30, Weight: 2}, {FPS: 15, Weight: 1}}, MinSeconds: 2, MaxSeconds: 3, TestFraction: 0.99})
	if err != nil {
		t.Fatal(err)
	}
	if err := synth.Generate(ctx, plan, dir, synth.Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	labels := filepath.Join(dir, "labels.csv")
	vids, err := dataset.ReadLabels(labels)
	if err != nil {
		t.Fatal(err)
	}
	arch, err := x3d.Build(x3d.Factors{Frames: 3, SamplingRate: 6, Crop: 32, Width: 0.5, Bottleneck: 1.5, Depth: 0.5}, "tiny", 3)
	if err != nil {
		t.Fatal(err)
	}
	r, err := python.New(ctx, python.Options{CacheDir: t.TempDir(), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(dir, "ck.pt")
	// A random network with random BN statistics: predictions vary between videos.
	x := make([]float32, 3*3*32*32)
	if _, err := r.Forward(ctx, python.ForwardOptions{Arch: arch, Seed: 5, RandomizeBN: true, SaveCheckpoint: ck, Input: x, Batch: 1}); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "m.onnx")
	if _, err := r.Export(ctx, python.ExportOptions{Arch: arch, Out: model, Labels: classes, Checkpoint: ck, TrainedOn: "test"}); err != nil {
		t.Fatal(err)
	}
	rt, err := infer.NewRuntime(infer.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	m, err := rt.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	rep, err := Run(ctx, Options{Model: model, Labels: labels, Splits: []string{"train", "val", "test"}, Clips: 1000, Crops: 1, Runtime: rt, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Videos != len(vids) {
		t.Fatalf("evaluated %d videos of %d", rep.Videos, len(vids))
	}
	want := make([][]int, 3)
	for i := range want {
		want[i] = make([]int, 3)
	}
	ok := 0
	for _, v := range vids {
		p := argmax(servingScores(t, m, filepath.Join(dir, v.Path)))
		truth := map[string]int{classes[0]: 0, classes[1]: 1, classes[2]: 2}[v.Label]
		want[truth][p]++
		if p == truth {
			ok++
		}
	}
	for i := range want {
		for j := range want[i] {
			if want[i][j] != rep.Confusion[i][j] {
				t.Fatalf("confusion %v, serving path gives %v", rep.Confusion, want)
			}
		}
	}
	t.Logf("confusion %v", rep.Confusion)
	if rep.Top1 != float64(ok)/float64(len(vids)) || rep.Top5 != 1 {
		t.Fatalf("top-1 %v top-5 %v, want %v and 1", rep.Top1, rep.Top5, float64(ok)/float64(len(vids)))
	}

	// Three crops at a larger test crop (the network re-exported fully convolutionally).
	big, err := AtCrop(arch, 48)
	if err != nil {
		t.Fatal(err)
	}
	if big.Head.PoolKernel != arch.Head.PoolKernel || big.CropSize != 48 {
		t.Fatalf("AtCrop: pool %v crop %d", big.Head.PoolKernel, big.CropSize)
	}
	model48 := filepath.Join(dir, "m48.onnx")
	if _, err := r.Export(ctx, python.ExportOptions{Arch: big, Out: model48, Labels: classes, Checkpoint: ck, TrainedOn: "test", ResizeShortSide: 48}); err != nil {
		t.Fatal(err)
	}
	rep3, err := Run(ctx, Options{Model: model48, Labels: labels, Splits: []string{"train", "val", "test"}, Clips: 2, Crops: 3, Runtime: rt})
	if err != nil {
		t.Fatal(err)
	}
	if rep3.Views != 3*2*len(vids) || rep3.CropSize != 48 || rep3.Crops != 3 {
		t.Fatalf("3-crop report: %d views, crop %d", rep3.Views, rep3.CropSize)
	}
	out := filepath.Join(dir, "conf.png")
	if err := rep3.Write(filepath.Join(dir, "eval.json"), out); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatal(err)
	}
}

func TestCropOrigin(t *testing.T) {
	for _, c := range []struct{ w, h, v, x, y int }{
		{100, 60, 0, 0, 0}, {100, 60, 1, 20, 0}, {100, 60, 2, 40, 0},
		{60, 100, 0, 0, 0}, {60, 100, 2, 0, 40},
	} {
		x, y := cropOrigin(c.w, c.h, 60, c.v, 3)
		if x != c.x || y != c.y {
			t.Errorf("%dx%d view %d: %d,%d want %d,%d", c.w, c.h, c.v, x, y, c.x, c.y)
		}
	}
}
