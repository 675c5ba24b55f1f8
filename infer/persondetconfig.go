package infer

import "github.com/actionstream/actionstream/confkit"

// Person detector export formats (infer/persondet reads them; docs/MODEL_CONTRACT.md).
const (
	// PersonFormatYOLOX is YOLOX exported with its decode head
	// (tools/export_onnx.py --decode_in_inference): output [N, boxes, 4+1+classes].
	PersonFormatYOLOX = "yolox"
	// PersonFormatYOLOv8 is an Ultralytics YOLOv8-style export: output [N, 4+classes, boxes].
	PersonFormatYOLOv8 = "yolov8"
)

// Config is the `infer` section: inference settings beside the model itself.
type Config struct {
	PersonDetector PersonDetectorConfig `yaml:"person_detector"`
}

// PersonDetectorConfig is `infer.person_detector`: a user-supplied person detector ONNX
// model that gives the RoI mode its boxes, run on each clip's key frame.
type PersonDetectorConfig struct {
	// Path is the detector's ONNX file; "" = no person detector.
	Path string `yaml:"path"`
	// Format is how the file was exported: yolox or yolov8.
	Format string `yaml:"format"`
	// ScoreThreshold drops boxes scoring below it (YOLOX: objectness × class score;
	// YOLOv8: class score).
	ScoreThreshold float64 `yaml:"score_threshold"`
	// NMSIoU: of two boxes of one class overlapping more than this, the lower-scoring goes.
	NMSIoU float64 `yaml:"nms_iou"`
	// Class is the index of the person class among the model's classes (COCO: 0).
	Class int `yaml:"class"`
}

// DefaultConfig is the `infer` section's defaults (no person detector).
func DefaultConfig() Config {
	return Config{PersonDetector: DefaultPersonDetectorConfig()}
}

// DefaultPersonDetectorConfig is the one definition of the person detector's defaults.
func DefaultPersonDetectorConfig() PersonDetectorConfig {
	return PersonDetectorConfig{Format: PersonFormatYOLOX, ScoreThreshold: 0.4, NMSIoU: 0.5, Class: 0}
}

// Validate checks the section; errors name the field by its YAML key.
func (c Config) Validate() error {
	var p confkit.Problems
	p.Nest("person_detector", c.PersonDetector.Validate())
	return p.Err()
}

// Validate checks the person detector settings (also when Path is "", so a typo shows
// before the path is filled in).
func (c PersonDetectorConfig) Validate() error {
	p := confkit.Problems{Sentinel: ErrBadOptions}
	switch c.Format {
	case PersonFormatYOLOX, PersonFormatYOLOv8:
	default:
		p.Add("format", "must be yolox or yolov8, not %q", c.Format)
	}
	if !(c.ScoreThreshold > 0 && c.ScoreThreshold <= 1) {
		p.Add("score_threshold", "must be in (0, 1], not %v", c.ScoreThreshold)
	}
	if !(c.NMSIoU > 0 && c.NMSIoU <= 1) {
		p.Add("nms_iou", "must be in (0, 1], not %v", c.NMSIoU)
	}
	if c.Class < 0 {
		p.Add("class", "must be >= 0, not %d", c.Class)
	}
	return p.Err()
}
