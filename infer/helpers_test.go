package infer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// python is the interpreter testkit.Python picks ($ACTIONSTREAM_PYTHON, Debian's python3, PATH).
func python(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath(testkit.Python())
	if err != nil {
		t.Fatalf("no python3 to generate ONNX fixtures: %v", err)
	}
	return p
}

// updateFixtures regenerates the committed ONNX fixtures: go test ./infer -update.
var updateFixtures = flag.Bool("update", false, "regenerate testdata/models with make_model.py (needs Python with onnx and numpy)")

// fixtureDir holds the models makeModel serves; committed so the short tier needs no Python.
const fixtureDir = "testdata/models"

// fixtureKey names the committed fixture for one make_model.py argument list.
func fixtureKey(args []string) string {
	sum := sha256.Sum256([]byte(strings.Join(args, "\x00")))
	return hex.EncodeToString(sum[:6])
}

// makeModel returns a copy (in a temp dir) of the committed model testdata/make_model.py writes
// for args; with -update it runs the script first and records args in the fixture index.
func makeModel(t testing.TB, args ...string) string {
	t.Helper()
	key := fixtureKey(args)
	src := filepath.Join(fixtureDir, key+".onnx")
	if *updateFixtures {
		runMakeModel(t, src, args)
		recordFixture(t, key, args)
	}
	out := filepath.Join(t.TempDir(), "model.onnx")
	for _, suffix := range []string{"", ".input.f32", ".expected.f32"} {
		b, err := os.ReadFile(src + suffix)
		if errors.Is(err, fs.ErrNotExist) {
			if suffix == "" {
				t.Fatalf("no committed fixture for make_model.py %q (%s): run go test ./infer -update", args, src)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out+suffix, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// runMakeModel writes make_model.py's model for args to out (and its .f32 files with --expect).
func runMakeModel(t testing.TB, out string, args []string) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "make_model.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python(t), append([]string{script, "--out", out}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make_model.py %v: %v\n%s", args, err, b)
	}
}

var fixtureIndexMu sync.Mutex

// fixtureIndex maps each committed fixture's key to the make_model.py arguments that made it.
func readFixtureIndex(t testing.TB) map[string][]string {
	t.Helper()
	idx := map[string][]string{}
	b, err := os.ReadFile(filepath.Join(fixtureDir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return idx
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("%s/index.json: %v", fixtureDir, err)
	}
	return idx
}

func recordFixture(t testing.TB, key string, args []string) {
	t.Helper()
	fixtureIndexMu.Lock()
	defer fixtureIndexMu.Unlock()
	idx := readFixtureIndex(t)
	if args == nil {
		args = []string{}
	}
	idx[key] = args
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fixtureDir, "index.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
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

func execPython(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command(python(t), args...)
}
