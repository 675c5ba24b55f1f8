package person

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/persondet"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/synth"
)

// A box maps into the centre crop of the scaled picture; one mostly outside is left out.
func TestToCrop(t *testing.T) {
	// 160x120 picture, 112 crop at (24, 4).
	got, ok := toCrop(synth.Box{X1: 0.25, Y1: 0.25, X2: 0.5, Y2: 0.5}, 160, 120, 24, 4, 112)
	want := [4]float32{(40 - 24) / 112.0, (30 - 4) / 112.0, (80 - 24) / 112.0, (60 - 4) / 112.0}
	if !ok || got != want {
		t.Errorf("toCrop = %v %v, want %v", got, ok, want)
	}
	if _, ok := toCrop(synth.Box{X1: 0, Y1: 0.4, X2: 0.2, Y2: 0.5}, 160, 120, 24, 4, 112); ok {
		t.Error("a box 3/8 inside the crop was kept")
	}
}

// Matching is one-to-one: a duplicate of a matched detection is a false positive.
func TestMatch(t *testing.T) {
	truth := [][4]float32{{0, 0, 0.5, 0.5}, {0.5, 0.5, 1, 1}}
	dets := []persondet.Detection{
		{Box: [4]float32{0, 0, 0.5, 0.5}, Score: 0.9},
		{Box: [4]float32{0.02, 0, 0.5, 0.5}, Score: 0.8},  // duplicate
		{Box: [4]float32{0.5, 0.5, 0.7, 0.7}, Score: 0.7}, // IoU 0.16
		{Box: [4]float32{0.55, 0.5, 1, 1}, Score: 0.6},    // IoU 0.9
	}
	if got, want := match(dets, truth), []bool{true, false, false, true}; !slices.Equal(got, want) {
		t.Errorf("match = %v, want %v", got, want)
	}
}

// AP of hit, miss, hit over 4 true boxes: recall 0.25 at precision 1, 0.5 at 2/3.
func TestAveragePrecision(t *testing.T) {
	got := averagePrecision([]scored{{0.9, true}, {0.5, true}, {0.7, false}}, 4)
	if want := 0.25*1 + 0.25*2.0/3; math.Abs(got-want) > 1e-9 {
		t.Errorf("AP = %v, want %v", got, want)
	}
}

func tinyDataset(t *testing.T, videos int, seed uint64) string {
	t.Helper()
	p, err := synth.NewPlan(synth.Config{Videos: videos, Seed: seed, Width: 112, Height: 112, MinSeconds: 1.5, MaxSeconds: 2,
		Actors: 2, FPS: []synth.FPSWeight{{FPS: 30, Weight: 1}, {FPS: 15, Weight: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := synth.Generate(context.Background(), p, dir, synth.Options{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Extract takes each distinct sampled frame once, with that frame's boxes from boxes.jsonl.
func TestExtract(t *testing.T) {
	dir := tinyDataset(t, 2, 5)
	set, err := Extract(context.Background(), dir, ExtractConfig{SamplingRate: 6})
	if err != nil {
		t.Fatal(err)
	}
	if set.Size != 112 || len(set.Pix) != len(set.Images)*3*112*112 {
		t.Fatalf("size %d, %d images, %d bytes", set.Size, len(set.Images), len(set.Pix))
	}
	lines, err := readBoxes(filepath.Join(dir, synth.BoxesFile))
	if err != nil {
		t.Fatal(err)
	}
	// 1.5-2 s videos, samples 0.2 s apart: about 8-10 distinct frames each.
	perVideo := map[string]int{}
	prev := map[string]int{}
	for _, im := range set.Images {
		perVideo[im.Video]++
		if f, ok := prev[im.Video]; ok && im.Frame <= f {
			t.Errorf("%s: frame %d after %d: not distinct and in order", im.Video, im.Frame, f)
		}
		prev[im.Video] = im.Frame
		line := lines[im.Video][im.Frame]
		if line.Frame != im.Frame || len(im.Boxes) != len(line.Actors) {
			t.Fatalf("%s frame %d: %d boxes, boxes.jsonl has %d", im.Video, im.Frame, len(im.Boxes), len(line.Actors))
		}
		for k, b := range line.Actors { // square video, crop = frame: the same fractions
			if got := im.Boxes[k]; got != [4]float32{float32(b.X1), float32(b.Y1), float32(b.X2), float32(b.Y2)} {
				t.Errorf("%s frame %d box %d = %v, want %+v", im.Video, im.Frame, k, got, b)
			}
		}
	}
	for v, n := range perVideo {
		if n < 6 || n > 12 {
			t.Errorf("%s: %d images", v, n)
		}
	}
	if _, err := Extract(context.Background(), t.TempDir(), ExtractConfig{}); !errors.Is(err, ErrBadData) {
		t.Errorf("empty directory: %v, want ErrBadData", err)
	}
}

// train fit --task person end to end on a tiny dataset: a YOLOX-format model that the
// serving detector opens, and metrics measured through it.
func TestFitExportsYOLOX(t *testing.T) {
	testkit.NeedsPython(t)
	data, held := tinyDataset(t, 3, 7), tinyDataset(t, 1, 8)
	r, err := python.New(context.Background(), python.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	res, err := Fit(context.Background(), r, FitOptions{Data: data, Out: out, Heldout: held, Epochs: 1, Width: 8,
		Runtime: infer.Options{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes <= 0 || res.Params <= 0 || res.TrainImages <= 0 || res.Heldout == nil || res.Heldout.Images == 0 || res.Heldout.Truth == 0 {
		t.Fatalf("result %+v", res)
	}
	var onDisk Result
	b, err := os.ReadFile(filepath.Join(out, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &onDisk); err != nil || onDisk.Heldout == nil || *onDisk.Heldout != *res.Heldout {
		t.Fatalf("metrics.json %s (%v)", b, err)
	}
	rt, err := infer.NewRuntime(infer.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	cfg := infer.DefaultPersonDetectorConfig()
	cfg.Path = res.Model
	d, err := persondet.Open(rt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if w, h := d.InputSize(); w != 112 || h != 112 {
		t.Errorf("input %dx%d, want 112x112", w, h)
	}
	cfg.Format = infer.PersonFormatYOLOv8
	if _, err := persondet.Open(rt, cfg); !errors.Is(err, persondet.ErrFormatMismatch) {
		t.Errorf("opened as yolov8: %v, want ErrFormatMismatch (it is [N, boxes, 6])", err)
	}
}
