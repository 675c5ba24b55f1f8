package dataset

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestCropBox(t *testing.T) {
	// A 128x96 frame resized to 85x64 (short side 64), centre crop 64: x offset 10.
	got, ok := CropBox([4]float64{0.5, 0.25, 0.75, 0.5}, 85, 64, 64)
	want := [4]float32{(0.5*85 - 10) / 64, 0.25, (0.75*85 - 10) / 64, 0.5}
	for k := range 4 {
		if !ok || math.Abs(float64(got[k]-want[k])) > 1e-6 {
			t.Fatalf("CropBox = %v %v, want %v", got, ok, want)
		}
	}
	if b, ok := CropBox([4]float64{0.0, 0.1, 0.2, 0.3}, 85, 64, 64); !ok || b[0] != 0 {
		t.Errorf("a box across the crop's left edge: %v %v, want clamped to 0", b, ok)
	}
	if _, ok := CropBox([4]float64{0.0, 0.1, 0.1, 0.3}, 128, 64, 64); ok {
		t.Error("a box wholly outside the crop was kept")
	}
}

func TestBoxesNearestFrame(t *testing.T) {
	p := filepath.Join(t.TempDir(), "boxes.jsonl")
	lines := `{"path":"v.mp4","frame":1,"pts":0.033333,"actors":[{"id":0,"label":"grow","x1":0.1,"y1":0.1,"x2":0.2,"y2":0.2}]}
{"path":"v.mp4","frame":0,"pts":0,"actors":[{"id":0,"label":"grow","x1":0,"y1":0,"x2":0.1,"y2":0.1}]}
{"path":"v.mp4","frame":2,"pts":0.066667,"actors":[]}
`
	if err := os.WriteFile(p, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := ReadBoxes(p)
	if err != nil {
		t.Fatal(err)
	}
	a, err := b.At("v.mp4", 0.03)
	if err != nil || len(a) != 1 || a[0].Box[0] != 0.1 || a[0].Label != "grow" {
		t.Fatalf("At(0.03) = %+v, %v, want frame 1's actor", a, err)
	}
	if _, err := b.At("v.mp4", 1.0); !errors.Is(err, ErrBoxes) {
		t.Errorf("a PTS far from every frame: %v, want ErrBoxes", err)
	}
	if _, err := b.At("other.mp4", 0); !errors.Is(err, ErrBoxes) {
		t.Errorf("an unknown video: %v, want ErrBoxes", err)
	}
	ia, err := b.keyActors("v.mp4", 0.0, 64, 64, 64, map[string]int{"grow": 3})
	if err != nil || len(ia) != 1 || ia[0].Label != 3 {
		t.Errorf("keyActors = %+v, %v", ia, err)
	}
	if _, err := b.keyActors("v.mp4", 0.0, 64, 64, 64, map[string]int{"static": 0}); !errors.Is(err, ErrLabels) {
		t.Errorf("an actor label outside the list: %v, want ErrLabels", err)
	}
	if err := os.WriteFile(p, []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadBoxes(p); !errors.Is(err, ErrBoxes) {
		t.Errorf("a broken line: %v, want ErrBoxes", err)
	}
}
