package main

import (
	"strings"
	"testing"
)

// A bad --person-detector-format is a config error the user reads on stderr (exit 1).
func TestRunRejectsBadPersonDetectorFormat(t *testing.T) {
	code, _, stderr := runCLI(t, "run", "--model", "m.onnx", "--input", "x.mp4", "--person-detector", "det.onnx", "--person-detector-format", "yolo9")
	if want := `config: infer.person_detector.format must be yolox or yolov8, not "yolo9"`; code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
}
