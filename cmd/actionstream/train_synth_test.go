package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTrainSynthCLI(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ds")
	code, stdout, stderr := runCLI(t, "train", "synth", "--out", out, "--videos", "3", "--seed", "4",
		"--size", "64x48", "--min-seconds", "0.5", "--max-seconds", "0.5", "--fps", "15",
		"--classes", "move_left,move_right,grow", "--workers", "2", "--quiet", "--preview", filepath.Join(dir, "p.png"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote 3 videos") {
		t.Fatalf("stdout %q", stdout)
	}
	labels, err := os.ReadFile(filepath.Join(out, "labels.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"move_left", "move_right", "grow"} {
		if !strings.Contains(string(labels), ","+c+",") {
			t.Errorf("labels.csv lacks %s:\n%s", c, labels)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "p.png")); err != nil || fi.Size() == 0 {
		t.Fatalf("preview: %v", err)
	}
	// Bad input is a usage or config error, not a crash.
	if code, _, _ := runCLI(t, "train", "synth", "--out", out); code != 2 {
		t.Fatalf("missing --videos: exit %d, want 2", code)
	}
	if code, _, stderr := runCLI(t, "train", "synth", "--out", out, "--videos", "1", "--classes", "jump"); code != 1 || !strings.Contains(stderr, "unknown class") {
		t.Fatalf("bad class: exit %d %s", code, stderr)
	}
	if code, _, _ := runCLI(t, "train", "nosuch"); code != 2 {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
}
