package x3d

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveAndLoad(t *testing.T) {
	all, err := Resolve(Request{NumClasses: 400})
	if err != nil || len(all) != len(Presets()) {
		t.Fatalf("presets: %d %v", len(all), err)
	}
	one, err := Resolve(Request{Arch: "x3d-m", NumClasses: 400})
	if err != nil || len(one) != 1 || one[0].Name != "x3d-m" {
		t.Fatalf("x3d-m: %+v %v", one, err)
	}
	// An override equal to the preset's own value keeps the name; a change names it custom.
	same, _ := Resolve(Request{Arch: "x3d-m", NumClasses: 400, Frames: one[0].Frames})
	changed, _ := Resolve(Request{Arch: "x3d-m", NumClasses: 400, Frames: 8})
	if same[0].Name != "x3d-m" || changed[0].Name != "custom" || changed[0].Frames != 8 {
		t.Fatalf("names %q %q", same[0].Name, changed[0].Name)
	}
	// A new training crop resizes the pool too.
	crop, err := Resolve(Request{Arch: "x3d-xl", NumClasses: 400, TrainCrop: 160})
	if err != nil || crop[0].CropSize != 160 || crop[0].Head.PoolKernel[1] != 5 {
		t.Fatalf("train crop: %+v %v", crop[0].Head, err)
	}
	// --arch also takes a spec file, loaded as written.
	b, _ := changed[0].JSON()
	spec := filepath.Join(t.TempDir(), "arch.json")
	os.WriteFile(spec, b, 0o644)
	a, err := Load(spec, 7)
	if err != nil || a.Frames != 8 || a.NumClasses != 400 {
		t.Fatalf("spec file: %+v %v", a, err)
	}
	if _, err := Resolve(Request{Arch: spec, NumClasses: 400, Width: 2}); !errors.Is(err, ErrBadFactors) {
		t.Fatalf("overrides on a spec file: %v", err)
	}
	if _, err := Load("x3d-huge", 400); !errors.Is(err, ErrUnknownPreset) || !strings.Contains(err.Error(), "x3d-s") {
		t.Fatalf("unknown name: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.json"), 400); !errors.Is(err, ErrBadArch) {
		t.Fatalf("missing spec: %v", err)
	}
	if _, err := Resolve(Request{Arch: "x3d-xs", NumClasses: 400, Expand: []string{"depth"}}); !errors.Is(err, ErrBadFactors) {
		t.Fatalf("bad expand: %v", err)
	}
	rows, err := Report(one, 224, true)
	if err != nil || rows[0].CropSize != 224 || rows[0].SpecCropSize != 224 || len(rows[0].Layers) == 0 {
		t.Fatalf("report: %+v %v", rows, err)
	}
	var sb strings.Builder
	if err := WriteTable(&sb, rows); err != nil || !strings.Contains(sb.String(), "x3d-m") || !strings.Contains(sb.String(), "stem.conv_xy") {
		t.Fatalf("table: %v\n%s", err, sb.String())
	}
}
