package person

import (
	"context"
	"testing"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/persondet"
	"github.com/actionstream/actionstream/training/synth"
)

// bundledModel is the person detector shipped in models/ (models/README.md says how it
// was made).
const bundledModel = "../../models/person-detector.onnx"

// The bundled detector finds the actors of synthetic videos it never saw (a seed of its
// own, frames rendered without the encoder): it is what the RoI mode's tests feed on.
func TestBundledDetectorOnUnseenVideos(t *testing.T) {
	rt, err := infer.NewRuntime(infer.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	cfg := infer.DefaultPersonDetectorConfig()
	cfg.Path = bundledModel
	d, err := persondet.Open(rt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	set := &Set{Size: 112}
	for _, actors := range []int{2, 3} {
		p, err := synth.NewPlan(synth.Config{Videos: 6, Seed: 424242 + uint64(actors), Width: 112, Height: 112, Actors: actors,
			MinSeconds: 2, MaxSeconds: 3, FPS: []synth.FPSWeight{{FPS: 30, Weight: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.Videos {
			r := synth.NewRenderer(v)
			for i := 0; i < v.Frames; i += 10 {
				img, boxes := r.Frame(i, nil)
				info := ImageInfo{Video: v.Path, Frame: i}
				for _, b := range boxes {
					info.Boxes = append(info.Boxes, [4]float32{float32(b.X1), float32(b.Y1), float32(b.X2), float32(b.Y2)})
				}
				rgb := make([]byte, 3*112*112)
				synth.ToRGB24(img, rgb)
				set.Pix = append(set.Pix, rgb...)
				set.Images = append(set.Images, info)
			}
		}
	}
	m, err := Evaluate(context.Background(), d, set, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(m)
	if m.Truth < 100 || m.Recall < minBundledRecall || m.Precision < minBundledPrecision {
		t.Errorf("bundled detector: %v; want recall >= %.2f and precision >= %.2f", m, minBundledRecall, minBundledPrecision)
	}
}

// What models/person-detector.onnx reaches here, with a margin (models/README.md).
const (
	minBundledRecall    = 0.72 // measured 0.758
	minBundledPrecision = 0.82 // measured 0.862
)
