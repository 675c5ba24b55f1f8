package infer

import (
	"fmt"

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
	// PersonDetector gives an RoI model its boxes (unused by single-stage models).
	PersonDetector PersonDetectorConfig `yaml:"person_detector"`
	// BoxModel is a single-stage detection model whose actors an RoI model classifies, instead
	// of a person detector (person_detector); "" = none.
	BoxModel string `yaml:"box_model"`
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
	if c.PersonDetector == (PersonDetectorConfig{}) {
		c.PersonDetector = d.PersonDetector
	}
	return c
}

// DefaultDetectionConfig is the one definition of the section's defaults.
func DefaultDetectionConfig() DetectionConfig {
	return DetectionConfig{MinActorScore: detect.DefaultMinScore, MaxActors: detect.DefaultMaxActors,
		PersonDetector: DefaultPersonDetectorConfig()}
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
	p.Nest("person_detector", c.PersonDetector.Validate())
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
// it cannot score clips (Infer fails with ErrNoBoxSource).
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
	o := m.newRunOutputs(n)
	if err := m.runOutputs(clips, n, o); err != nil {
		return nil, err
	}
	out := make([][]ScoredBox, n)
	for i := range out {
		dets, err := decodeSingleStage(m.Meta, m.detectOpts, o.named(m), i)
		if err != nil {
			return nil, err
		}
		for _, d := range dets {
			out[i] = append(out[i], ScoredBox{Box: d.Box, Score: d.Score})
		}
	}
	return out, nil
}

// runOutputs are one in-process batch's raw outputs, before Infer names them.
type runOutputs struct {
	n                              int
	logits                         []float32 // classification [n,C]
	heatmap, size, offset, actions []float32 // single-stage [n,·,G,G]; RoI: actions [K,C]
	rois                           []float32 // RoI: [K,5]
	boxes                          [][]ScoredBox
	first                          []int // RoI: clip i's rois are first[i]..first[i+1]
}

// newRunOutputs allocates outputs for batches of up to maxN clips (RoI buffers grow as needed).
func (m *Model) newRunOutputs(maxN int) *runOutputs {
	maxN = max(maxN, 1)
	o := &runOutputs{}
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

// runOutputs runs n clips (input [n,3,T,S,S]) into o. An RoI model first asks its BoxSource for
// the clips' actors and fails with ErrNoBoxSource without one; a batch with no actor at all makes
// no model call.
func (m *Model) runOutputs(input []float32, n int, o *runOutputs) error {
	if err := m.Ready(); err != nil { // the output tensors below need ONNX Runtime loaded
		return err
	}
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
		*o = *m.newRunOutputs(n)
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
func (m *Model) runRoIs(input []float32, n int, boxes [][]ScoredBox, o *runOutputs) error {
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

// run makes one session call with the clip input (and rois, for RoI models); calls may overlap.
func (m *Model) run(input []float32, n int, rois ort.Value, outs []ort.Value) error {
	if err := m.Ready(); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
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

// named is o as the Backend contract's named tensors (no copy: valid until o is reused). An RoI
// model's outputs add the boxes it classified: "rois" [K,5] (batch index, box in crop fractions)
// and "roi_scores" [K] (how sure the box source was), so a clip's actors can be told apart.
func (o *runOutputs) named(m *Model) Outputs {
	n, c := int64(o.n), int64(m.classes)
	switch m.Meta.Mode {
	case ModeSingleStage:
		g := int64(m.Meta.Grid())
		cells := int(g * g)
		return Outputs{
			OutputHeatmap: {Shape: []int64{n, 1, g, g}, Data: o.heatmap[:o.n*cells]},
			OutputSize:    {Shape: []int64{n, 2, g, g}, Data: o.size[:o.n*2*cells]},
			OutputOffset:  {Shape: []int64{n, 2, g, g}, Data: o.offset[:o.n*2*cells]},
			OutputActions: {Shape: []int64{n, c, g, g}, Data: o.actions[:o.n*int(c)*cells]},
		}
	case ModeRoI:
		k := len(o.rois) / 5
		scores := make([]float32, 0, k)
		for _, bs := range o.boxes {
			for _, b := range bs {
				scores = append(scores, b.Score)
			}
		}
		return Outputs{
			OutputActions:   {Shape: []int64{int64(k), c}, Data: o.actions[:k*int(c)]},
			OutputRoIs:      {Shape: []int64{int64(k), 5}, Data: o.rois},
			OutputRoIScores: {Shape: []int64{int64(k)}, Data: scores},
		}
	}
	return Outputs{OutputLogits: {Shape: []int64{n, c}, Data: o.logits[:o.n*int(c)]}}
}

// runDetectionInto is RunInto for a detection model: each clip's best probability per label over
// its actors. An RoI model without a BoxSource classifies the whole crop as one actor.
func (m *Model) runDetectionInto(input []float32, n int, out []float32) error {
	if len(out) < n*m.classes {
		return fmt.Errorf("%w: output has room for %d values, %d clips need %d", ErrBadBatch, len(out), n, n*m.classes)
	}
	o := m.newRunOutputs(n)
	var err error
	if m.NeedsBoxSource() {
		whole := make([][]ScoredBox, n)
		for i := range whole {
			whole[i] = []ScoredBox{{Box: detect.Box{0, 0, 1, 1}, Score: 1}}
		}
		err = m.runRoIs(input, n, whole, o)
	} else {
		err = m.runOutputs(input, n, o)
	}
	if err != nil {
		return err
	}
	sco := &Scorer{meta: m.Meta, opts: m.detectOpts}
	outs := o.named(m)
	var sc ScoredClip
	for i := range n {
		if err := sco.Score(outs, i, &clipper.Clip{}, &sc); err != nil {
			return err
		}
		copy(out[i*m.classes:(i+1)*m.classes], sc.Scores)
	}
	return nil
}
