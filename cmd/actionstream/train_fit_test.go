package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/testkit"
)

// The documented flow on a tiny synthetic set: synth -> prepare -> fit (one epoch,
// label-mapped augmentations) -> eval through ONNX Runtime -> export at a larger crop;
// then the X2D variant of the same data with --single-frame.
func TestTrainPrepareFitEvalCLI(t *testing.T) {
	testkit.NeedsPython(t)
	dir := t.TempDir()
	syn := filepath.Join(dir, "synth")
	if code, _, stderr := runCLI(t, "train", "synth", "--out", syn, "--videos", "8", "--seed", "2", "--size", "64x48",
		"--min-seconds", "2", "--max-seconds", "2", "--fps", "30", "--classes", "move_left,move_right",
		"--val", "0.25", "--test", "0.25", "--workers", "2", "--quiet"); code != 0 {
		t.Fatalf("synth: %s", stderr)
	}
	ds := filepath.Join(dir, "ds")
	code, stdout, stderr := runCLI(t, "train", "prepare", "--labels", filepath.Join(syn, "labels.csv"), "--out", ds,
		"--frames", "4", "--sampling-rate", "6", "--crop", "32", "--clips-per-video", "2", "--splits", "train,val", "--quiet")
	if code != 0 || !strings.Contains(stdout, "train") || !strings.Contains(stdout, "resize 36") {
		t.Fatalf("prepare: exit %d\n%s\n%s", code, stdout, stderr)
	}
	run := filepath.Join(dir, "run")
	fitArgs := []string{"train", "fit", "--data", ds, "--out", run, "--arch", "x2d", "--width", "0.5", "--depth", "0.34",
		"--epochs", "1", "--batch", "4", "--lr", "0.02", "--flip", "--reverse", "--synth-pairs", "--threads", "2", "--name", "cli-test"}
	code, stdout, stderr = runCLI(t, append(fitArgs[:len(fitArgs):len(fitArgs)], "--dry-run")...)
	if code != 0 || !strings.Contains(stdout, `"frames": 4`) || !strings.Contains(stdout, `"crop_size": 32`) {
		t.Fatalf("fit --dry-run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, fitArgs...)
	if code != 0 || !strings.Contains(stdout, "val top-1") || !strings.Contains(stderr, "ETA") {
		t.Fatalf("fit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"metrics.json", "curves.png", "model.onnx", "checkpoint.pt"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("run dir: %v", err)
		}
	}
	code, stdout, stderr = runCLI(t, "train", "eval", "--run", run, "--labels", filepath.Join(syn, "labels.csv"),
		"--splits", "test", "--clips-per-video", "2", "--out", filepath.Join(dir, "eval"), "--quiet", "--threads", "1")
	if code != 0 || !strings.Contains(stdout, "top-1") || !strings.Contains(stdout, "2 videos") {
		t.Fatalf("eval: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "eval", "confusion.png")); err != nil {
		t.Error(err)
	}
	// The fully-convolutional protocol: the run is re-exported at the test crop first.
	code, stdout, stderr = runCLI(t, "train", "eval", "--run", run, "--labels", filepath.Join(syn, "labels.csv"),
		"--splits", "test", "--clips-per-video", "1", "--test-crop", "40", "--quiet", "--threads", "1")
	if code != 0 || !strings.Contains(stdout, "top-1") {
		t.Fatalf("eval --test-crop 40: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if meta, err := infer.ReadMetadata(filepath.Join(run, "model-crop40.onnx")); err != nil || meta.CropSize != 40 {
		t.Errorf("the test-crop export: %+v, %v", meta, err)
	}
	big := filepath.Join(dir, "big.onnx")
	if code, _, stderr := runCLI(t, "train", "export", "--run", run, "--out", big, "--crop", "40"); code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	meta, err := infer.ReadMetadata(big)
	if err != nil || meta.CropSize != 40 || meta.Name != "cli-test" || meta.Labels[1] != "move_right" {
		t.Fatalf("exported at crop 40: %+v %v", meta, err)
	}

	// X2D on the same clips: one frame each.
	code, stdout, stderr = runCLI(t, "train", "fit", "--data", ds, "--out", filepath.Join(dir, "x2d"), "--arch", "x2d",
		"--width", "0.5", "--depth", "0.34", "--single-frame", "-1", "--epochs", "1", "--batch", "4", "--quiet", "--no-export")
	if code != 0 {
		t.Fatalf("fit --single-frame: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, _ := runCLI(t, "train", "fit", "--data", ds); code != 2 {
		t.Errorf("fit without --out: exit %d, want 2", code)
	}
}
