package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/internal/testkit"
)

// The detection flow on a tiny two-actor set: synth -> prepare --boxes -> fit --task
// detection -> eval --task detection (ONNX Runtime, the contract's decoding); then the RoI
// head from the single-stage model's exported backbone (frozen, feature cache) evaluated on
// the true boxes; and the errors a user meets on the way.
func TestTrainDetectionCLI(t *testing.T) {
	testkit.NeedsPython(t)
	dir := t.TempDir()
	syn := filepath.Join(dir, "synth")
	if code, _, stderr := runCLI(t, "train", "synth", "--out", syn, "--videos", "12", "--seed", "3", "--size", "64x64",
		"--actors", "2", "--min-seconds", "2", "--max-seconds", "2", "--fps", "30", "--classes", "move_left,move_right,static",
		"--val", "0.25", "--test", "0.25", "--workers", "2", "--quiet"); code != 0 {
		t.Fatalf("synth: %s", stderr)
	}
	labels := filepath.Join(syn, "labels.csv")
	ds := filepath.Join(dir, "ds")
	code, stdout, stderr := runCLI(t, "train", "prepare", "--labels", labels, "--boxes", filepath.Join(syn, "boxes.jsonl"),
		"--out", ds, "--frames", "4", "--sampling-rate", "6", "--crop", "64", "--resize", "64", "--clips-per-video", "2",
		"--splits", "train,val", "--quiet")
	if code != 0 {
		t.Fatalf("prepare --boxes: exit %d\n%s\n%s", code, stdout, stderr)
	}
	run := filepath.Join(dir, "det")
	arch := []string{"--arch", "x3d-xs", "--width", "0.5", "--depth", "0.34", "--detection-channels", "16"}
	code, stdout, stderr = runCLI(t, append([]string{"train", "fit", "--data", ds, "--out", run, "--task", "detection",
		"--epochs", "1", "--batch", "4", "--lr", "0.02", "--flip", "--synth-pairs", "--threads", "2", "--name", "det-test"}, arch...)...)
	if code != 0 || !strings.Contains(stdout, "val frame-mAP@0.5") || !strings.Contains(stderr, "ETA") {
		t.Fatalf("fit --task detection: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"metrics.json", "curves.png", "model.onnx", "checkpoint.pt", "weights.pt"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("run dir: %v", err)
		}
	}
	code, stdout, stderr = runCLI(t, "train", "eval", "--task", "detection", "--model", filepath.Join(run, "model.onnx"),
		"--labels", labels, "--splits", "test", "--clips-per-video", "2", "--out", filepath.Join(dir, "eval"), "--quiet", "--threads", "1")
	if code != 0 || !strings.Contains(stdout, "det-test (single_stage)") || !strings.Contains(stdout, "3 videos, 6 key frames, 12 true actors") ||
		!strings.Contains(stdout, "frame-mAP@0.5") || !strings.Contains(stdout, "| move_left |") {
		t.Fatalf("eval --task detection: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "eval", "eval.json")); err != nil {
		t.Error(err)
	}
	// Resume: a finished run continued to 2 epochs trains one more.
	code, stdout, stderr = runCLI(t, append([]string{"train", "fit", "--data", ds, "--out", run, "--task", "detection",
		"--epochs", "2", "--batch", "4", "--lr", "0.02", "--threads", "2", "--resume", "--no-export", "--quiet"}, arch...)...)
	if code != 0 || !strings.Contains(stdout, "2 epochs") {
		t.Fatalf("fit --resume: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// RoI head on the single-stage model's backbone, frozen; the second run reuses the features.
	roi := filepath.Join(dir, "roi")
	roiArgs := append([]string{"train", "fit", "--data", ds, "--out", roi, "--task", "roi", "--init", filepath.Join(run, "model.onnx"),
		"--freeze-backbone", "--feature-cache", filepath.Join(dir, "features"), "--epochs", "2", "--batch", "4", "--lr", "0.05",
		"--threads", "2", "--name", "roi-test", "--quiet"}, arch...)
	if code, stdout, stderr = runCLI(t, roiArgs...); code != 0 || !strings.Contains(stdout, "val frame-mAP@0.5") {
		t.Fatalf("fit --task roi: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "features", "*.pt")); len(m) != 2 {
		t.Errorf("feature cache: %v, want the train and val files", m)
	}
	roiModel := filepath.Join(roi, "model.onnx")
	code, stdout, stderr = runCLI(t, "train", "eval", "--task", "detection", "--model", roiModel, "--boxes", "true",
		"--labels", labels, "--splits", "test", "--clips-per-video", "2", "--quiet", "--threads", "1")
	if code != 0 || !strings.Contains(stdout, "roi-test (roi)") || !strings.Contains(stdout, "true boxes") ||
		!strings.Contains(stdout, "actor recall 100.00%") {
		t.Fatalf("eval --boxes true: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// What a user sees when something is missing.
	code, _, stderr = runCLI(t, "train", "eval", "--task", "detection", "--model", roiModel, "--labels", labels, "--quiet")
	if code != 1 || !strings.Contains(stderr, "a RoI model needs its boxes: one of --boxes true and --person-detector") {
		t.Errorf("roi eval without boxes: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "train", "eval", "--task", "detection", "--model", roiModel, "--labels", labels,
		"--person-detector", filepath.Join(dir, "yolox.onnx"), "--quiet")
	if code != 1 || !strings.Contains(stderr, "yolox.onnx") {
		t.Errorf("--person-detector of a missing file: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "train", "eval", "--task", "detection", "--model", filepath.Join(run, "model.onnx"), "--labels", labels,
		"--boxes", "true", "--quiet")
	if code != 1 || !strings.Contains(stderr, "are for RoI models") {
		t.Errorf("--boxes true on a single-stage model: exit %d, %s", code, stderr)
	}
	plain := filepath.Join(dir, "plain")
	if code, _, stderr := runCLI(t, "train", "prepare", "--labels", labels, "--out", plain, "--frames", "4", "--sampling-rate", "6",
		"--crop", "64", "--resize", "64", "--clips-per-video", "1", "--splits", "train", "--quiet"); code != 1 ||
		!strings.Contains(stderr, "is not in the label list") {
		t.Errorf("prepare of a two-actor set without --boxes: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCLI(t, append([]string{"train", "fit", "--data", ds, "--out", filepath.Join(dir, "bad"), "--task", "boxes"}, arch...)...)
	if code != 1 || !strings.Contains(stderr, `task "boxes"`) {
		t.Errorf("fit --task boxes: exit %d, %s", code, stderr)
	}
}
