package python

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/training/x3d"
)

// TestPythonUnitTests runs the PyTorch-side unit tests (pytests/: initialisation,
// BN folding, ONNX ops, spec validation) against specs written by training/x3d.
func TestPythonUnitTests(t *testing.T) {
	testkit.NeedsPython(t)
	r := newRunner(t)
	xs, err := x3d.Preset("x3d-xs", 400)
	if err != nil {
		t.Fatal(err)
	}
	tiny, err := x3d.Build(x3d.Factors{Frames: 3, SamplingRate: 10, Crop: 48, Width: 0.5, Bottleneck: 1.5, Depth: 0.6}, "tiny", 5)
	if err != nil {
		t.Fatal(err)
	}
	tiny64, err := x3d.Build(x3d.Factors{Frames: 3, SamplingRate: 10, Crop: 64, Width: 0.5, Bottleneck: 1.5, Depth: 0.6}, "tiny64", 5)
	if err != nil {
		t.Fatal(err)
	}
	tinyDet, err := tiny64.WithDetection(x3d.ModeSingleStage, 16)
	if err != nil {
		t.Fatal(err)
	}
	tinyRoI, err := tiny64.WithDetection(x3d.ModeRoI, 16)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]x3d.Arch{"x3d-xs": xs, "tiny": tiny, "tiny64": tiny64, "tiny-det": tinyDet, "tiny-roi": tinyRoI})
	if err != nil {
		t.Fatal(err)
	}
	specs := filepath.Join(t.TempDir(), "specs.json")
	if err := os.WriteFile(specs, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := filepath.Abs("pytests")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(testCtx(t), r.Python(), "-m", "unittest", "discover", "-v", "-s", tests, "-t", tests)
	cmd.Env = append(r.env(), "ACTIONSTREAM_TEST_SPECS="+specs, "OMP_NUM_THREADS=2")
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("python unit tests failed: %v", err)
	}
}
