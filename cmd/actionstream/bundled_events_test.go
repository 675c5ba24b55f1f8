package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// `train eval --task events` sends two-actor videos of a seed no model saw through run itself
// (decoder, clipper, the bundled single-stage model, tracker, action lifecycle) and holds the
// per-actor events and actor ids against the true boxes. The floors sit under this 24-video
// set's measured figures; models/README.md has the 120-video ones against the targets.
func TestBundledDetectionModelThroughRun(t *testing.T) {
	dir := t.TempDir()
	syn := filepath.Join(dir, "synth")
	if code, _, stderr := runCLI(t, "train", "synth", "--out", syn, "--videos", "24", "--seed", "424247", "--size", "96x96",
		"--actors", "2", "--min-seconds", "3", "--max-seconds", "5", "--val", "0", "--test", "0",
		"--workers", "2", "--quiet"); code != 0 {
		t.Fatalf("synth: %s", stderr)
	}
	labels := filepath.Join(syn, "labels.csv")
	code, stdout, stderr := runCLI(t, "train", "eval", "--task", "events", "--model", "../../models/demo-detection.onnx",
		"--labels", labels, "--splits", "train", "--threads", "1", "--quiet", "--out", filepath.Join(dir, "eval"))
	re := regexp.MustCompile(`and action ([0-9.]+)% \((\d+)/(\d+)\), actors keeping one id ([0-9.]+)% \((\d+)/(\d+);`)
	m := re.FindStringSubmatch(stdout)
	if code != 0 || m == nil {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	t.Log(strings.TrimSpace(stdout))
	evShare, _ := strconv.ParseFloat(m[1], 64)
	events, _ := strconv.Atoi(m[3])
	idShare, _ := strconv.ParseFloat(m[4], 64)
	actors, _ := strconv.Atoi(m[6])
	if actors != 48 || events < 40 {
		t.Errorf("%d true actors (want 48: 2 in each of 24 videos), %d events (want 40 or more)", actors, events)
	}
	if evShare < 80 || idShare < 85 {
		t.Errorf("events with the true box and action %.1f%%, actors keeping one id %.1f%%; want at least 80%% and 85%%", evShare, idShare)
	}

	// A classification model is refused with the reason.
	code, _, stderr = runCLI(t, "train", "eval", "--task", "events", "--model", "../../models/demo.onnx",
		"--labels", labels, "--splits", "train", "--quiet")
	if code == 0 || !strings.Contains(stderr, "needs a detection model") {
		t.Errorf("classification model: exit %d, stderr %q", code, stderr)
	}
}
