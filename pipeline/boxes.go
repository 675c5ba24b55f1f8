package pipeline

import (
	"fmt"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/persondet"
)

// openBoxSource gives an RoI model its actors: opts' BoxSource, else the configured person
// detector, else detection.box_model (a single-stage model). It returns what must be closed
// before the runtime; a model that needs no boxes gets none.
func (p *Pipeline) openBoxSource(cfg configs.Config, given infer.BoxSource) (closeFn func(), err error) {
	m := p.model
	if m.Meta.Mode != infer.ModeRoI {
		return func() {}, nil
	}
	switch {
	case given != nil:
		m.SetBoxSource(given)
		return func() {}, nil
	case cfg.Detection.PersonDetector.Path != "":
		d, err := persondet.Open(p.runtime, cfg.Detection.PersonDetector)
		if err != nil {
			return nil, fmt.Errorf("detection.person_detector: %w", err)
		}
		m.SetBoxSource(d)
		return func() { d.Close() }, nil
	case cfg.Detection.BoxModel != "":
		bm, err := p.runtime.Open(cfg.Detection.BoxModel)
		if err != nil {
			return nil, fmt.Errorf("detection.box_model: %w", err)
		}
		if bm.Meta.Mode != infer.ModeSingleStage {
			bm.Close()
			return nil, fmt.Errorf("detection.box_model: %s is not a single-stage detection model (%s %q): %w",
				cfg.Detection.BoxModel, infer.KeyDetectionMode, bm.Meta.Mode, infer.ErrBadOptions)
		}
		if err := bm.SetDetection(cfg.Detection); err != nil {
			bm.Close()
			return nil, fmt.Errorf("detection: %w", err)
		}
		m.SetBoxSource(bm)
		return func() { bm.Close() }, nil
	}
	return nil, fmt.Errorf("model.path: %s is an RoI detection model (%s %s): %w; give it one: a person detector "+
		"(detection.person_detector.path, --person-detector) or a single-stage model (detection.box_model)",
		cfg.Model.Path, infer.KeyDetectionMode, infer.ModeRoI, infer.ErrNoBoxSource)
}
