package python

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/actionstream/actionstream/internal/testkit"
)

// The committed tiny model (served by tests that need no Python) is byte for byte what the exporter
// writes today; regenerate it with `go run ./internal/testkit/maketiny` when this fails.
func TestTinyFixtureUpToDate(t *testing.T) {
	testkit.NeedsPython(t)
	out := filepath.Join(t.TempDir(), "tiny.onnx")
	o := ExportOptions{Arch: testkit.TinyArch(), Out: out, Labels: testkit.TinyLabels, Seed: testkit.TinySeed}
	if _, err := newRunner(t).Export(testCtx(t), o); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(testkit.TinyModelPath())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("internal/testkit/testdata/tiny.onnx (%d bytes) differs from a fresh export (%d bytes): run go run ./internal/testkit/maketiny", len(want), len(got))
	}
}
