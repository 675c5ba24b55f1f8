package infer

import (
	"fmt"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/infer/detect"
)

// Scorer turns a batch's named outputs into each clip's scores, and for a detection model its
// actors: one definition for every Backend (in process or remote).
type Scorer struct {
	meta Metadata
	opts detect.Options
}

// NewScorer is the scorer of the model info describes; d is the `detection` section (zero =
// defaults; classification models ignore it).
func NewScorer(info BackendInfo, d DetectionConfig) (*Scorer, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("%w: detection: %w", ErrBadOptions, err)
	}
	return &Scorer{meta: info.Meta, opts: d.WithDefaults().options()}, nil
}

// Check fails when outs cannot hold a batch of k clips of the model: the tensors its task
// needs, each float32 with the batch (or, for RoI, box) dimension first and the model's sizes.
// where names the backend in the error.
func (s *Scorer) Check(outs Outputs, k int, where string) error {
	c := int64(len(s.meta.Labels))
	want := func(name string, shape ...int64) error {
		t, ok := outs[name]
		if !ok {
			return fmt.Errorf("%w: %s answered without a %q output", ErrBadOutput, where, name)
		}
		size := int64(1)
		for _, d := range t.Shape {
			size *= d
		}
		ok = len(t.Shape) == len(shape) && int64(len(t.Data)) == size
		for i := range shape {
			if !ok {
				break
			}
			// shape[0] < 0: at least -shape[0] rows; else exact.
			ok = shape[i] < 0 && t.Shape[i] >= -shape[i] || t.Shape[i] == shape[i]
		}
		if !ok {
			return fmt.Errorf("%w: %s answered %s of shape %v with %d values, want %v (%d labels)", ErrBadOutput, where, name, t.Shape, len(t.Data), describe(shape), c)
		}
		return nil
	}
	kk := -int64(k)
	switch s.meta.Mode {
	case ModeSingleStage:
		g := int64(s.meta.Grid())
		for _, o := range []struct {
			name string
			ch   int64
		}{{OutputHeatmap, 1}, {OutputSize, 2}, {OutputOffset, 2}, {OutputActions, c}} {
			if err := want(o.name, kk, o.ch, g, g); err != nil {
				return err
			}
		}
		return nil
	case ModeRoI:
		r, ok := outs[OutputRoIs]
		if !ok || len(r.Shape) != 2 {
			return fmt.Errorf("%w: %s answered an RoI model without the %q it classified", ErrBadOutput, where, OutputRoIs)
		}
		n := r.Shape[0]
		for _, err := range []error{want(OutputRoIs, n, 5), want(OutputRoIScores, n), want(OutputActions, n, c)} {
			if err != nil {
				return err
			}
		}
		return nil
	}
	return want(OutputLogits, kk, c)
}

func describe(shape []int64) string {
	out := "["
	for i, d := range shape {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprint(max(d, -d)) // a row minimum prints as the rows wanted

	}
	return out + "]"
}

// Score fills sc's Scores from clip i of a checked batch, and for a detection model Key and
// Actors (boxes mapped to c's source frame; Scores is then each label's best over the actors).
// c's header is read, not its tensor.
func (s *Scorer) Score(outs Outputs, i int, c *clipper.Clip, sc *ScoredClip) error {
	classes := len(s.meta.Labels)
	sc.Scores = make([]float32, classes)
	if !s.meta.IsDetection() {
		row, err := outs[OutputLogits].Row(i)
		if err != nil {
			return err
		}
		ScoresInto(s.meta, row, sc.Scores)
		return nil
	}
	sc.Key = c.Key
	crop, err := detect.CropOf(c.SourceWidth, c.SourceHeight, s.meta.ResizeShortSide, s.meta.CropSize)
	if err != nil {
		// A clip that does not say its frame (tests, synthetic input): the crop is the frame.
		crop = detect.Crop{ResizedW: s.meta.CropSize, ResizedH: s.meta.CropSize, Size: s.meta.CropSize}
	}
	if sc.Actors == nil {
		sc.Actors = make([]Actor, 0, s.opts.MaxActors) // non-nil: a detection clip, maybe without actors
	}
	sc.Actors = sc.Actors[:0]
	switch s.meta.Mode {
	case ModeSingleStage:
		dets, err := decodeSingleStage(s.meta, s.opts, outs, i)
		if err != nil {
			return err
		}
		for _, d := range dets {
			sc.Actors = append(sc.Actors, Actor{Box: crop.ToSource(d.Box), Score: d.Score, Scores: d.Scores})
		}
	case ModeRoI:
		rois, scores, actions := outs[OutputRoIs].Data, outs[OutputRoIScores].Data, outs[OutputActions].Data
		for k := range len(scores) {
			if int(rois[k*5]) != i {
				continue
			}
			b := detect.Box{rois[k*5+1], rois[k*5+2], rois[k*5+3], rois[k*5+4]}
			row := actions[k*classes : (k+1)*classes]
			probs := make([]float32, classes)
			for j, v := range row {
				probs[j] = ClampScore(v)
			}
			sc.Actors = append(sc.Actors, Actor{Box: crop.ToSource(b), Score: scores[k], Scores: probs})
		}
	}
	for _, a := range sc.Actors {
		for j, v := range a.Scores {
			sc.Scores[j] = max(sc.Scores[j], v)
		}
	}
	return nil
}

// decodeSingleStage is clip i's single-stage actors in crop coordinates.
func decodeSingleStage(meta Metadata, opts detect.Options, outs Outputs, i int) ([]detect.Detection, error) {
	rows := make([][]float32, 4)
	for j, name := range []string{OutputHeatmap, OutputSize, OutputOffset, OutputActions} {
		r, err := outs[name].Row(i)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rows[j] = r
	}
	h := detect.Heads{Grid: meta.Grid(), Stride: meta.Stride, Classes: len(meta.Labels),
		Heatmap: rows[0], Size: rows[1], Offset: rows[2], Actions: rows[3]}
	return detect.Decode(h, opts)
}
