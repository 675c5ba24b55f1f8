package infer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestFixturesUpToDate regenerates every committed model fixture with make_model.py and
// requires the same bytes, so the short tier's fixtures cannot drift from the script.
func TestFixturesUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Python with onnx and numpy; run without -short")
	}
	idx := readFixtureIndex(t)
	if len(idx) == 0 {
		t.Fatalf("%s/index.json lists no fixtures", fixtureDir)
	}
	dir := t.TempDir()
	for key, args := range idx {
		if got := fixtureKey(args); got != key {
			t.Errorf("index entry %s has args %q whose key is %s", key, args, got)
			continue
		}
		out := filepath.Join(dir, key+".onnx")
		runMakeModel(t, out, args)
		for _, suffix := range []string{"", ".input.f32", ".expected.f32"} {
			want, errW := os.ReadFile(filepath.Join(fixtureDir, key+".onnx"+suffix))
			got, errG := os.ReadFile(out + suffix)
			if os.IsNotExist(errW) && os.IsNotExist(errG) {
				continue
			}
			if errW != nil || errG != nil {
				t.Errorf("fixture %s%s (%q): committed %v, regenerated %v", key, suffix, args, errW, errG)
				continue
			}
			if !bytes.Equal(want, got) {
				t.Errorf("fixture %s%s (%q) is stale: run go test ./infer -update", key, suffix, args)
			}
		}
	}
}
