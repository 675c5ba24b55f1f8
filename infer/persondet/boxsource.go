package persondet

import (
	"context"
	"fmt"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/detect"
)

// Boxes implements infer.BoxSource: the persons on each clip's key frame (sample T/2 of
// clips laid out [n,3,T,S,S], normalised as meta says), in fractions of the crop, best first.
func (d *Detector) Boxes(clips []float32, n int, meta infer.Metadata) ([][]infer.ScoredBox, error) {
	t, s := meta.Frames, meta.CropSize
	per := 3 * t * s * s
	if n < 0 || t <= 0 || s <= 0 || len(clips) < n*per {
		return nil, fmt.Errorf("person detector: %w: %d values for %d clips of T=%d S=%d", ErrBadImage, len(clips), n, t, s)
	}
	ims := make([]Image, n)
	for i := range ims {
		ims[i] = keyFrame(clips[i*per:(i+1)*per], t, s, meta.Mean, meta.Std)
	}
	dets, err := d.DetectBatch(context.Background(), ims)
	if err != nil {
		return nil, err
	}
	out := make([][]infer.ScoredBox, n)
	for i, ds := range dets {
		for _, det := range ds {
			out[i] = append(out[i], infer.ScoredBox{Box: detect.Box(det.Box), Score: det.Score})
		}
	}
	return out, nil
}
