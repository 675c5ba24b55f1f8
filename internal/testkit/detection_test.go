package testkit

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The committed detection fixtures are what make_detect.py writes today.
func TestDetectionFixturesUpToDate(t *testing.T) {
	NeedsPython(t)
	for _, mode := range []string{DetectionSingleStage, DetectionRoI} {
		out := filepath.Join(t.TempDir(), mode+".onnx")
		if b, err := exec.Command(Python(), DetectionScript(), "--mode", mode, "--out", out).CombinedOutput(); err != nil {
			t.Fatalf("make_detect.py --mode %s: %v\n%s", mode, err, b)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(DetectionModel(t, mode))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: regenerate it with make_detect.py --mode %s", DetectionModelPath(mode), mode)
		}
	}
}
