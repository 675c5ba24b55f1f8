package dwbench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// One round of the layer comparison runs every implementation on every X3D-S shape and
// prints a line for each (the end-to-end part is exercised by the bench command's test).
func TestRunLayers(t *testing.T) {
	if testing.Short() {
		t.Skip("times every X3D-S depthwise shape; run without -short")
	}
	r, err := Run(context.Background(), Options{Threads: 2, Rounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Layers) != 8 {
		t.Fatalf("%d layer shapes, want 8", len(r.Layers))
	}
	for _, l := range r.Layers {
		for _, name := range []string{"ort Conv", "own-portable"} {
			if s, ok := l.Times[name]; !ok || s.Median <= 0 {
				t.Errorf("%s: no time for %s: %v", Name(l.Layer.Geometry), name, l.Times)
			}
		}
		found := false
		for name := range l.Times {
			found = found || strings.HasPrefix(name, "ort + own-")
		}
		if !found {
			t.Errorf("%s: the custom op inside ORT was not timed: %v", Name(l.Layer.Geometry), l.Times)
		}
	}
	var out bytes.Buffer
	if err := r.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CPU: ", "54ch 13x80x80 s2 (×1 in X3D-S; 30.3 M multiply-adds", "X3D-S's 26 depthwise layers"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
