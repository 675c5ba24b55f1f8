package testkit

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// DetectionLabels are the classes of the detection fixtures: a red actor waves, a blue one walks.
var DetectionLabels = []string{"wave", "walk"}

// Detection fixture modes (the contract's actionstream.detection.mode).
const (
	DetectionSingleStage = "single_stage"
	DetectionRoI         = "roi"
)

// DetectionModel returns the committed detection fixture of mode (testdata/detect_<mode>.onnx,
// written by makedetect/make_detect.py): no training, a fixed graph that finds a red and a blue
// square on the clip's key frame (4 frames × τ 6 at 64 px, stride 8), so tests of the detection
// path need no Python.
func DetectionModel(t testing.TB, mode string) string {
	t.Helper()
	p := DetectionModelPath(mode)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the committed detection test model: %v (regenerate: see DetectionModelPath)", err)
	}
	return p
}

// DetectionModelPath is where the committed detection fixture of mode lives. Regenerate with
// /usr/bin/python3 internal/testkit/makedetect/make_detect.py --mode MODE --out PATH.
func DetectionModelPath(mode string) string {
	return filepath.Join(testkitDir(), "testdata", "detect_"+mode+".onnx")
}

// DetectionScript is make_detect.py.
func DetectionScript() string { return filepath.Join(testkitDir(), "makedetect", "make_detect.py") }

func testkitDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Python is the interpreter for fixture scripts: $ACTIONSTREAM_PYTHON, else Debian's
// /usr/bin/python3 (with python3-onnx), else python3 on PATH.
func Python() string {
	if p := os.Getenv("ACTIONSTREAM_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}
