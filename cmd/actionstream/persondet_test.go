package main

import (
	"strings"
	"testing"

	"github.com/actionstream/actionstream/internal/testkit"
)

// A bad --person-detector-format is a config error the user reads on stderr (exit 1).
func TestRunRejectsBadPersonDetectorFormat(t *testing.T) {
	code, _, stderr := runCLI(t, "run", "--model", "m.onnx", "--input", "x.mp4", "--person-detector", "det.onnx", "--person-detector-format", "yolo9")
	if want := `config: detection.person_detector.format must be yolox or yolov8, not "yolo9"`; code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
}

// train fit --task person has its own flags; a missing one is a usage error (exit 2).
func TestTrainFitPersonUsage(t *testing.T) {
	code, _, stderr := runCLI(t, "train", "fit", "--task", "person", "--data", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "train fit --task person") || !strings.Contains(stderr, "-heldout") {
		t.Fatalf("exit %d, stderr %q; want 2 and the person usage", code, stderr)
	}
	testkit.NeedsPython(t) // the trainer is found before the data is read
	code, _, stderr = runCLI(t, "train", "fit", "--task=person", "--data", t.TempDir(), "--out", t.TempDir(), "--quiet")
	if code != 1 || !strings.Contains(stderr, "labels.csv") {
		t.Fatalf("empty data dir: exit %d, stderr %q; want 1 naming labels.csv", code, stderr)
	}
}

// run --person-detector gives an RoI model its boxes: actors in clip.scored; a detector file
// in the wrong format is exit 1 with the fix on stderr.
func TestRunRoIWithPersonDetector(t *testing.T) {
	path := testkit.TwoActors{}.Make(t, t.TempDir(), 2)
	roi := testkit.DetectionModel(t, testkit.DetectionRoI)
	code, stdout, stderr := runCLI(t, "run", "--model", roi, "--input", path, "--person-detector", "../../models/person-detector.onnx")
	if code != 0 || !strings.Contains(stdout, `"actors":[{`) {
		t.Fatalf("exit %d, stderr %q, stdout %.300q; want 0 and clips with actors", code, stderr, stdout)
	}
	code, _, stderr = runCLI(t, "run", "--model", roi, "--input", path, "--person-detector", "../../models/person-detector.onnx",
		"--person-detector-format", "yolov8")
	if want := "that is yolox's layout [N, boxes, 4+1+classes], not yolov8 is [N, 4+classes, boxes] (set format: yolox)"; code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("as yolov8: exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
}
