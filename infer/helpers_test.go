package infer

import (
	"encoding/binary"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// python finds the interpreter with onnx + numpy the same way project code does:
// $ACTIONSTREAM_PYTHON, then Debian's /usr/bin/python3, then python3 on PATH.
func python(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ACTIONSTREAM_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("no python3 to generate ONNX fixtures: %v", err)
	}
	return p
}

// makeModel writes a model with testdata/make_model.py into a temp dir and returns its path.
func makeModel(t testing.TB, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "model.onnx")
	script, err := filepath.Abs(filepath.Join("testdata", "make_model.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python(t), append([]string{script, "--out", out}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make_model.py %v: %v\n%s", args, err, b)
	}
	return out
}

func readF32(t testing.TB, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func testLogger() (*slog.Logger, *testutil.SyncBuffer) {
	buf := &testutil.SyncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func newRuntime(t testing.TB, opts Options) *Runtime {
	t.Helper()
	if opts.Threads == 0 {
		opts.Threads = 1 // CI machines are small; ORT's default is one thread per core
	}
	if opts.Logger == nil {
		opts.Logger, _ = testLogger()
	}
	r, err := NewRuntime(opts)
	if err != nil {
		t.Fatalf("NewRuntime: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Runtime.Close: %v", err)
		}
	})
	return r
}

func openModel(t testing.TB, r *Runtime, path string) *Model {
	t.Helper()
	m, err := r.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*(1+math.Abs(b))
}
