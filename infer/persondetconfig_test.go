package infer

import (
	"errors"
	"strings"
	"testing"
)

func TestPersonDetectorConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := DefaultConfig()
	c.PersonDetector = PersonDetectorConfig{Path: "p.onnx", Format: "yolo", ScoreThreshold: 0, NMSIoU: 1.5, Class: -1}
	err := c.Validate()
	if !errors.Is(err, ErrBadOptions) {
		t.Fatalf("err = %v, want ErrBadOptions", err)
	}
	for _, want := range []string{
		`config: person_detector.format must be yolox or yolov8, not "yolo"`,
		"config: person_detector.score_threshold must be in (0, 1], not 0",
		"config: person_detector.nms_iou must be in (0, 1], not 1.5",
		"config: person_detector.class must be >= 0, not -1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
