package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// bench dwconv: the layer table and the end-to-end lines on the demo model (X3D-S sized),
// and a model without depthwise layers refused before any timing.
func TestBenchDepthwise(t *testing.T) {
	if testing.Short() {
		t.Skip("times X3D-S's depthwise layers; run without -short")
	}
	code, _, stderr := runCLI(t, "bench", "dwconv", "--model", filepath.Join("..", "..", "infer", "testdata", "models", "e3b0c44298fc.onnx"))
	if code != 1 || !strings.Contains(stderr, "has no channel-wise 3×3×3 convolution to substitute") {
		t.Errorf("model without depthwise layers: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "bench", "dwconv", "--batches", "1,x")
	if code == 0 || !strings.Contains(stderr, `--batches: "x" is not a batch size`) {
		t.Errorf("bad --batches: exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := runCLI(t, "bench", "dwconv", "--model", filepath.Join("..", "..", "models", "demo.onnx"),
		"--rounds", "1", "--calls", "1", "--batches", "1", "--threads", "2")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	for _, want := range []string{"load average before", "54ch 13x80x80 s2", "ort Conv", "own-portable", "X3D-S's 26 depthwise layers", "batch 1 ort ", "(26 nodes)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}
