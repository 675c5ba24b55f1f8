package dataset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// One label order for `train prepare`, `train expand` and Prepare: an explicit list, else
// classes.txt beside the CSV, else the CSV's order of first appearance (not sorted).
func TestLabelOrder(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "labels.csv")
	os.WriteFile(csv, []byte("path,label,split\na.mp4,shrink,train\nb.mp4,grow,val\nc.mp4,shrink,test\nd.mp4,static,train\n"), 0o644)
	want := func(got []string, err error, w ...string) {
		t.Helper()
		if err != nil || !slices.Equal(got, w) {
			t.Fatalf("order %q (%v), want %q", got, err, w)
		}
	}
	got, err := LabelOrder(csv, "")
	want(got, err, "shrink", "grow", "static")
	got, err = LabelOrder(csv, "static,grow,shrink")
	want(got, err, "static", "grow", "shrink")
	list := filepath.Join(dir, "mine.txt")
	os.WriteFile(list, []byte("# comment\ngrow\nstatic\n\nshrink\n"), 0o644)
	got, err = LabelOrder(csv, list)
	want(got, err, "grow", "static", "shrink")
	os.WriteFile(filepath.Join(dir, ClassesFile), []byte("static\nshrink\ngrow\n"), 0o644)
	got, err = LabelOrder(csv, "")
	want(got, err, "static", "shrink", "grow")

	// classes.txt alone is enough (train expand's dry runs need no CSV).
	os.Remove(csv)
	got, err = LabelOrder(csv, "")
	want(got, err, "static", "shrink", "grow")
	if _, err := LabelOrder(filepath.Join(t.TempDir(), "labels.csv"), ""); !errors.Is(err, ErrLabels) {
		t.Fatalf("no CSV, no classes.txt: %v", err)
	}
	for _, bad := range []string{"a,a", ",", filepath.Join(dir, "missing.txt")} {
		if _, err := ParseClasses(bad); !errors.Is(err, ErrLabels) {
			t.Errorf("ParseClasses(%q): %v", bad, err)
		}
	}
}

// Prepare without Config.Labels takes LabelOrder's order, classes.txt included.
func TestPrepareUsesLabelOrder(t *testing.T) {
	dir := t.TempDir()
	makeVideo(t, filepath.Join(dir, "a.mp4"), 30, 1, 64, 48)
	csv := filepath.Join(dir, "labels.csv")
	os.WriteFile(csv, []byte("path,label\na.mp4,zeta\na.mp4,alpha\n"), 0o644)
	cfg := Config{Frames: 2, SamplingRate: 3, Size: 24, ClipsPerVideo: 1}
	idx, err := Prepare(context.Background(), csv, filepath.Join(dir, "ds"), cfg)
	order, oerr := LabelOrder(csv, "")
	if err != nil || oerr != nil || !slices.Equal(idx.Labels, order) || !slices.Equal(order, []string{"zeta", "alpha"}) {
		t.Fatalf("prepare %q (%v), LabelOrder %q (%v)", idx.Labels, err, order, oerr)
	}
	os.WriteFile(filepath.Join(dir, ClassesFile), []byte("alpha\nbeta\nzeta\n"), 0o644)
	if idx, err = Prepare(context.Background(), csv, filepath.Join(dir, "ds2"), cfg); err != nil || !slices.Equal(idx.Labels, []string{"alpha", "beta", "zeta"}) {
		t.Fatalf("with classes.txt: %q (%v)", idx.Labels, err)
	}
}
