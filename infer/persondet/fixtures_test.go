package persondet

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/actionstream/actionstream/internal/testkit"
)

// updateFixtures regenerates testdata/*.onnx: go test ./infer/persondet -update.
var updateFixtures = flag.Bool("update", false, "regenerate testdata/*.onnx with make_detectors.py (needs Python with onnx and numpy)")

// python is the interpreter testkit.Python picks ($ACTIONSTREAM_PYTHON, Debian's python3, PATH).
func python(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath(testkit.Python())
	if err != nil {
		t.Fatalf("no python3 to generate ONNX fixtures: %v", err)
	}
	return p
}

func makeDetectors(t testing.TB, dir string) {
	t.Helper()
	cmd := exec.Command(python(t), filepath.Join("testdata", "make_detectors.py"), "--out", dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make_detectors.py: %v\n%s", err, b)
	}
}

// fixture is the path of a committed fixture (regenerated first with -update).
func fixture(t testing.TB, name string) string {
	t.Helper()
	if *updateFixtures {
		makeDetectors(t, "testdata")
	}
	p := filepath.Join("testdata", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture %s: %v (run go test ./infer/persondet -update)", name, err)
	}
	return p
}

// The committed fixtures are what make_detectors.py writes today.
func TestFixturesUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Python with onnx and numpy; run without -short")
	}
	dir := t.TempDir()
	makeDetectors(t, dir)
	fresh, err := filepath.Glob(filepath.Join(dir, "*.onnx"))
	if err != nil || len(fresh) == 0 {
		t.Fatalf("make_detectors.py wrote no fixtures (%v)", err)
	}
	committed, _ := filepath.Glob(filepath.Join("testdata", "*.onnx"))
	if len(committed) != len(fresh) {
		t.Errorf("testdata has %d fixtures, make_detectors.py writes %d: run go test ./infer/persondet -update", len(committed), len(fresh))
	}
	for _, p := range fresh {
		want, err := os.ReadFile(filepath.Join("testdata", filepath.Base(p)))
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		got, _ := os.ReadFile(p)
		if !bytes.Equal(want, got) {
			t.Errorf("testdata/%s is stale: run go test ./infer/persondet -update", filepath.Base(p))
		}
	}
}
