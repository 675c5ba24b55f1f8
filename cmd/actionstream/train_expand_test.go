package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/training/expand"
)

func TestTrainExpandSyntheticCLI(t *testing.T) {
	out := t.TempDir()
	args := []string{"train", "expand", "--scorer", "synthetic", "--target-gflops", "0.2", "--out", out,
		"--workers", "2", "--axes", "frames,width,depth", "--num-classes", "9"}
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "final") || !strings.Contains(stdout, "trajectory.png") {
		t.Fatalf("stdout:\n%s", stdout)
	}
	tj, err := expand.ReadTrajectory(out)
	if err != nil {
		t.Fatal(err)
	}
	if !tj.Done || tj.NumClasses != 9 || len(tj.Axes) != 3 {
		t.Fatalf("trajectory %+v", tj)
	}
	if g := tj.Contraction.Final.GFLOPs; g < 0.19 || g > 0.21 {
		t.Fatalf("final %.4g GFLOPs, want 0.2 within 5%%", g)
	}
	for _, f := range []string{expand.TrajectoryCSV, expand.TrajectoryPNG} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	// A rerun resumes: nothing is trained again and the result is the same.
	code, stdout2, stderr2 := runCLI(t, args...)
	if code != 0 || stdout2 != stdout {
		t.Fatalf("rerun: exit %d, stdout differs:\n%s\n%s", code, stdout2, stderr2)
	}
	if !strings.Contains(stderr2, "resuming") || strings.Contains(stderr2, "training candidate") {
		t.Fatalf("rerun trained again:\n%s", stderr2)
	}

	// Without a dataset the fit scorer is a usage error; bad axes are errors.
	if code, _, _ := runCLI(t, "train", "expand", "--target-gflops", "1", "--out", out); code != 2 {
		t.Fatalf("missing --data: exit %d", code)
	}
	if code, _, _ := runCLI(t, "train", "expand", "--scorer", "synthetic", "--target-gflops", "1", "--out", out, "--axes", "height"); code != 1 {
		t.Fatalf("bad axis: exit %d", code)
	}
}
