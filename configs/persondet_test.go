package configs

import (
	"strings"
	"testing"
)

// infer.person_detector comes from YAML and the environment, and a bad value names its path.
func TestPersonDetectorConfig(t *testing.T) {
	y := "model: {path: m.onnx}\ninfer: {person_detector: {path: det.onnx, format: yolov8, score_threshold: 0.6}}"
	cfg, err := Parse([]byte(y), "t.yaml", []string{"ACTIONSTREAM_INFER_PERSON_DETECTOR_NMS_IOU=0.7"})
	if err != nil {
		t.Fatal(err)
	}
	pd := cfg.Infer.PersonDetector
	if pd.Path != "det.onnx" || pd.Format != "yolov8" || pd.ScoreThreshold != 0.6 || pd.NMSIoU != 0.7 || pd.Class != 0 {
		t.Errorf("person_detector = %+v", pd)
	}
	_, err = Parse([]byte("model: {path: m.onnx}\ninfer: {person_detector: {format: yolo5}}"), "t.yaml", nil)
	if want := `config: infer.person_detector.format must be yolox or yolov8, not "yolo5"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want %q", err, want)
	}
}
