package infer

import (
	"fmt"
	"image"
	"image/color"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/infer/detect"
)

// DetectionConfig is the `detection` section: how a detection model's outputs become actors.
type DetectionConfig struct {
	// MinActorScore is the least actor-centre heat (single-stage) a peak needs to be an actor.
	MinActorScore float64 `yaml:"min_actor_score"`
	// MaxActors caps the actors per clip, best first (both modes).
	MaxActors int `yaml:"max_actors"`
}

// WithDefaults replaces zero fields by their defaults.
func (c DetectionConfig) WithDefaults() DetectionConfig {
	d := DefaultDetectionConfig()
	if c.MinActorScore == 0 {
		c.MinActorScore = d.MinActorScore
	}
	if c.MaxActors == 0 {
		c.MaxActors = d.MaxActors
	}
	return c
}

// DefaultDetectionConfig is the one definition of the section's defaults.
func DefaultDetectionConfig() DetectionConfig {
	return DetectionConfig{MinActorScore: detect.DefaultMinScore, MaxActors: detect.DefaultMaxActors}
}

// maxActorsLimit bounds max_actors: the per-actor lifecycle keeps state for each.
const maxActorsLimit = 256

// Validate checks the section (zero fields mean the default); errors name the field by its YAML key.
func (c DetectionConfig) Validate() error {
	c = c.WithDefaults()
	p := confkit.Problems{Sentinel: ErrBadOptions}
	if !(c.MinActorScore > 0 && c.MinActorScore <= 1) {
		p.Add("min_actor_score", "must be in (0, 1], not %v", c.MinActorScore)
	}
	if c.MaxActors < 1 || c.MaxActors > maxActorsLimit {
		p.Add("max_actors", "must be 1..%d, not %d", maxActorsLimit, c.MaxActors)
	}
	return p.Err()
}

func (c DetectionConfig) options() detect.Options {
	return detect.Options{MinScore: float32(c.MinActorScore), MaxActors: c.MaxActors}
}

// SetDetection sets how the model's detections are decoded and capped; call it before the model
// runs (it is not synchronised with Run).
func (m *Model) SetDetection(c DetectionConfig) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: detection: %w", ErrBadOptions, err)
	}
	m.detectOpts = c.WithDefaults().options()
	return nil
}

// ScoredBox is a box (fractions [0,1] of the crop) and how sure its finder is.
type ScoredBox struct {
	Box   detect.Box
	Score float32
}

// BoxSource finds the actors an RoI detection model classifies: a person detector run on each
// clip's key frame, or a single-stage detection model (*Model implements it).
type BoxSource interface {
	// Boxes gets n clips laid out [n,3,T,S,S], normalised as meta says, and returns per clip the
	// actors' boxes on its key frame (sample T/2) in crop fractions, best first. It is called
	// from the batcher's goroutine, one call at a time; it must not keep clips.
	Boxes(clips []float32, n int, meta Metadata) ([][]ScoredBox, error)
}

// SetBoxSource gives an RoI model its actors; call it before the model runs.
func (m *Model) SetBoxSource(s BoxSource) { m.boxes = s }

// NeedsBoxSource reports whether the model is an RoI detection model still without a BoxSource:
// it cannot score clips (RunOutputs fails with ErrNoBoxSource).
func (m *Model) NeedsBoxSource() bool { return m.Meta.Mode == ModeRoI && m.boxes == nil }

// Boxes implements BoxSource with a single-stage model: its decoded actors (MaxActors, best first).
// The clips must have this model's frames and crop.
func (m *Model) Boxes(clips []float32, n int, meta Metadata) ([][]ScoredBox, error) {
	if m.Meta.Mode != ModeSingleStage {
		return nil, fmt.Errorf("%w: model %s is not a single-stage detection model, it finds no boxes", ErrBadOptions, m.Meta.Name)
	}
	if meta.Frames != m.Meta.Frames || meta.CropSize != m.Meta.CropSize || meta.Mean != m.Meta.Mean || meta.Std != m.Meta.Std {
		return nil, fmt.Errorf("%w: box model %s takes T=%d S=%d clips, got T=%d S=%d (or other normalisation)",
			ErrClipShape, m.Meta.Name, m.Meta.Frames, m.Meta.CropSize, meta.Frames, meta.CropSize)
	}
	o := m.NewOutputs(n)
	if err := m.RunOutputs(clips, n, o); err != nil {
		return nil, err
	}
	out := make([][]ScoredBox, n)
	for i := range out {
		dets, err := m.decode(o, i)
		if err != nil {
			return nil, err
		}
		for _, d := range dets {
			out[i] = append(out[i], ScoredBox{Box: d.Box, Score: d.Score})
		}
	}
	return out, nil
}

// Outputs are one batch's raw outputs. The batcher keeps one and reuses it for every call; not
// safe for concurrent use.
type Outputs struct {
	n                              int
	logits                         []float32 // classification [n,C]
	heatmap, size, offset, actions []float32 // single-stage [n,·,G,G]; RoI: actions [K,C]
	rois                           []float32 // RoI: [K,5]
	boxes                          [][]ScoredBox
	first                          []int // RoI: clip i's rois are first[i]..first[i+1]
}

// NewOutputs allocates outputs for batches of up to maxN clips (RoI buffers grow as needed).
func (m *Model) NewOutputs(maxN int) *Outputs {
	maxN = max(maxN, 1)
	o := &Outputs{}
	c := m.classes
	switch m.Meta.Mode {
	case ModeSingleStage:
		cells := m.Meta.Grid() * m.Meta.Grid()
		o.heatmap = make([]float32, maxN*cells)
		o.size = make([]float32, maxN*2*cells)
		o.offset = make([]float32, maxN*2*cells)
		o.actions = make([]float32, maxN*c*cells)
	case ModeRoI:
	default:
		o.logits = make([]float32, maxN*c)
	}
	return o
}

// RunOutputs runs n clips (input [n,3,T,S,S]) into o. An RoI model first asks its BoxSource for
// the clips' actors and fails with ErrNoBoxSource without one; a batch with no actor at all makes
// no model call.
func (m *Model) RunOutputs(input []float32, n int, o *Outputs) error {
	if m.Meta.Mode == ModeRoI {
		if m.boxes == nil {
			return fmt.Errorf("%w: model %s", ErrNoBoxSource, m.Meta.Name)
		}
		boxes, err := m.boxes.Boxes(input[:n*m.clipLen], n, m.Meta)
		if err != nil {
			return fmt.Errorf("infer: boxes for %s: %w", m.Meta.Name, err)
		}
		if len(boxes) != n {
			return fmt.Errorf("%w: the box source returned boxes for %d clips, want %d", ErrBadOutput, len(boxes), n)
		}
		return m.runRoIs(input, n, boxes, o)
	}
	if m.Meta.Mode != ModeSingleStage {
		if len(o.logits) < n*m.classes {
			o.logits = make([]float32, n*m.classes)
		}
		o.n = n
		return m.RunInto(input, n, o.logits)
	}
	if err := m.checkBatch(input, n); err != nil {
		return err
	}
	g, c := int64(m.Meta.Grid()), int64(m.classes)
	cells := int(g * g)
	if len(o.heatmap) < n*cells || len(o.actions) < n*int(c)*cells {
		*o = *m.NewOutputs(n)
	}
	o.n = n
	outs := []struct {
		buf []float32
		ch  int64
	}{{o.heatmap, 1}, {o.size, 2}, {o.offset, 2}, {o.actions, c}}
	vals := make([]ort.Value, len(outs))
	for i, x := range outs {
		t, err := ort.NewTensor(ort.NewShape(int64(n), x.ch, g, g), x.buf[:n*int(x.ch)*cells])
		if err != nil {
			destroy(vals[:i])
			return fmt.Errorf("infer: output tensor: %w", err)
		}
		vals[i] = t
	}
	defer destroy(vals)
	return m.run(input, n, nil, vals)
}

// runRoIs lays out the rois of every clip's boxes (capped at MaxActors) and runs the RoI model.
func (m *Model) runRoIs(input []float32, n int, boxes [][]ScoredBox, o *Outputs) error {
	if err := m.checkBatch(input, n); err != nil {
		return err
	}
	o.n, o.rois, o.first, o.boxes = n, o.rois[:0], append(o.first[:0], 0), o.boxes[:0]
	for i, bs := range boxes {
		bs = bs[:min(len(bs), m.detectOpts.MaxActors)]
		o.boxes = append(o.boxes, bs)
		for _, b := range bs {
			o.rois = append(o.rois, float32(i), b.Box[0], b.Box[1], b.Box[2], b.Box[3])
		}
		o.first = append(o.first, len(o.rois)/5)
	}
	k := len(o.rois) / 5
	if k == 0 {
		return nil
	}
	c := m.classes
	if cap(o.actions) < k*c {
		o.actions = make([]float32, k*c)
	}
	o.actions = o.actions[:k*c]
	rois, err := ort.NewTensor(ort.NewShape(int64(k), 5), o.rois)
	if err != nil {
		return fmt.Errorf("infer: rois tensor: %w", err)
	}
	defer rois.Destroy()
	out, err := ort.NewTensor(ort.NewShape(int64(k), int64(c)), o.actions)
	if err != nil {
		return fmt.Errorf("infer: output tensor: %w", err)
	}
	defer out.Destroy()
	return m.run(input, n, rois, []ort.Value{out})
}

// checkBatch is RunInto's check of n and the input's length.
func (m *Model) checkBatch(input []float32, n int) error {
	switch {
	case n <= 0:
		return fmt.Errorf("%w: n = %d", ErrBadBatch, n)
	case m.fixedBatch > 0 && n != m.fixedBatch:
		return fmt.Errorf("%w: model %s has a fixed batch of %d, got %d", ErrBadBatch, m.Path, m.fixedBatch, n)
	case len(input) < n*m.clipLen:
		return fmt.Errorf("%w: input has %d values, %d clips need %d", ErrBadBatch, len(input), n, n*m.clipLen)
	}
	return nil
}

// run makes one session call with the clip input (and rois, for RoI models), serialised.
func (m *Model) run(input []float32, n int, rois ort.Value, outs []ort.Value) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	s := int64(m.Meta.CropSize)
	in, err := ort.NewTensor(ort.NewShape(int64(n), 3, int64(m.Meta.Frames), s, s), input[:n*m.clipLen])
	if err != nil {
		return fmt.Errorf("infer: input tensor: %w", err)
	}
	defer in.Destroy()
	ins := []ort.Value{in}
	if rois != nil {
		ins = append(ins, rois)
	}
	if err := m.sess.Run(ins, outs); err != nil {
		return fmt.Errorf("infer: run %s (batch %d): %w", m.Meta.Name, n, err)
	}
	return nil
}

func destroy(vs []ort.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}

// decode is clip i's single-stage actors in crop coordinates.
func (m *Model) decode(o *Outputs, i int) ([]detect.Detection, error) {
	g, c := m.Meta.Grid(), m.classes
	cells := g * g
	h := detect.Heads{Grid: g, Stride: m.Meta.Stride, Classes: c,
		Heatmap: o.heatmap[i*cells : (i+1)*cells], Size: o.size[i*2*cells : (i+1)*2*cells],
		Offset: o.offset[i*2*cells : (i+1)*2*cells], Actions: o.actions[i*c*cells : (i+1)*c*cells]}
	return detect.Decode(h, m.detectOpts)
}

// ScoreClip fills sc's Scores (and, for a detection model, Key and Actors with boxes mapped to
// c's source frame) from clip i of the last RunOutputs. c's header is read, not its tensor.
func (m *Model) ScoreClip(o *Outputs, i int, c *clipper.Clip, sc *ScoredClip) error {
	if i < 0 || i >= o.n {
		return fmt.Errorf("%w: clip %d of a batch of %d", ErrBadBatch, i, o.n)
	}
	classes := m.classes
	sc.Scores = make([]float32, classes)
	if !m.Meta.IsDetection() {
		ScoresInto(m.Meta, o.logits[i*classes:(i+1)*classes], sc.Scores)
		return nil
	}
	sc.Key = c.Key
	crop, err := detect.CropOf(c.SourceWidth, c.SourceHeight, m.Meta.ResizeShortSide, m.Meta.CropSize)
	if err != nil {
		// A clip that does not say its frame (tests, synthetic input): the crop is the frame.
		crop = detect.Crop{ResizedW: m.Meta.CropSize, ResizedH: m.Meta.CropSize, Size: m.Meta.CropSize}
	}
	if sc.Actors == nil {
		sc.Actors = make([]Actor, 0, m.detectOpts.MaxActors) // non-nil: a detection clip, maybe without actors
	}
	sc.Actors = sc.Actors[:0]
	switch m.Meta.Mode {
	case ModeSingleStage:
		dets, err := m.decode(o, i)
		if err != nil {
			return err
		}
		for _, d := range dets {
			sc.Actors = append(sc.Actors, Actor{Box: crop.ToSource(d.Box), Score: d.Score, Scores: d.Scores})
		}
	case ModeRoI:
		for k, b := range o.boxes[i] {
			row := o.actions[(o.first[i]+k)*classes : (o.first[i]+k+1)*classes]
			scores := make([]float32, classes)
			for j, v := range row {
				scores[j] = ClampScore(v)
			}
			sc.Actors = append(sc.Actors, Actor{Box: crop.ToSource(b.Box), Score: b.Score, Scores: scores})
		}
	}
	for _, a := range sc.Actors {
		for j, v := range a.Scores {
			sc.Scores[j] = max(sc.Scores[j], v)
		}
	}
	return nil
}

// runDetectionInto is RunInto for a detection model: each clip's best probability per label over
// its actors. An RoI model without a BoxSource classifies the whole crop as one actor.
func (m *Model) runDetectionInto(input []float32, n int, out []float32) error {
	if len(out) < n*m.classes {
		return fmt.Errorf("%w: output has room for %d values, %d clips need %d", ErrBadBatch, len(out), n, n*m.classes)
	}
	o := m.NewOutputs(n)
	var err error
	if m.NeedsBoxSource() {
		whole := make([][]ScoredBox, n)
		for i := range whole {
			whole[i] = []ScoredBox{{Box: detect.Box{0, 0, 1, 1}, Score: 1}}
		}
		err = m.runRoIs(input, n, whole, o)
	} else {
		err = m.RunOutputs(input, n, o)
	}
	if err != nil {
		return err
	}
	var sc ScoredClip
	for i := range n {
		if err := m.ScoreClip(o, i, &clipper.Clip{}, &sc); err != nil {
			return err
		}
		copy(out[i*m.classes:(i+1)*m.classes], sc.Scores)
	}
	return nil
}

// KeyFrameRGBA is clip's key frame (sample T/2 of one clip [3,T,S,S], normalised as meta says)
// back as an S×S RGBA image, for a person detector that takes pictures.
func KeyFrameRGBA(clip []float32, meta Metadata) (*image.RGBA, error) {
	t, s := meta.Frames, meta.CropSize
	if len(clip) < 3*t*s*s || t <= 0 || s <= 0 {
		return nil, fmt.Errorf("%w: %d values for a T=%d S=%d clip", ErrClipShape, len(clip), t, s)
	}
	img := image.NewRGBA(image.Rect(0, 0, s, s))
	plane, k := s*s, t/2
	for y := range s {
		for x := range s {
			var px [3]uint8
			for ch := range 3 {
				v := clip[(ch*t+k)*plane+y*s+x]*meta.Std[ch] + meta.Mean[ch]
				px[ch] = uint8(max(0, min(255, v*255+0.5)))
			}
			img.SetRGBA(x, y, color.RGBA{px[0], px[1], px[2], 255})
		}
	}
	return img, nil
}
