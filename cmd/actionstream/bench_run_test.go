package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
	"github.com/actionstream/actionstream/pipeline"
	"github.com/actionstream/actionstream/pipeline/bench"
)

// `bench run` times run, ffmpeg and the raw model calls as processes of their own (this
// test binary re-run as the CLI) and reports the bound as the largest of its three terms.
func TestBenchRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ffmpeg and three processes per round")
	}
	model := testkit.TinyModel(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.mp4")
	testkit.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=4", "-c:v", "libx264",
		"-preset", "ultrafast", "-pix_fmt", "yuv420p", in)
	var stdout, stderr testutil.SyncBuffer
	cmd := runOwnProcess(t, &stdout, &stderr, "bench", "run", "--model", model, "--input", in, "--runs", "2", "--json")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v, stderr:\n%s", err, stderr.String())
	}
	var r bench.RunResult
	if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if r.Clips < 1 || r.Frames != 100 || r.Runs != 2 || r.Cores != runtime.NumCPU() || r.Threads != pipeline.OneShotThreads(infer.Options{}, runtime.NumCPU()).Threads || r.LoadBefore == "" || r.CPU == "" {
		t.Fatalf("result %+v", r)
	}
	for name, s := range map[string]bench.Spread{"ffmpeg": r.FFmpegWall, "ffmpeg cpu": r.FFmpegCPU, "raw": r.RawWall,
		"raw cpu": r.RawCPU, "run": r.RunWall, "bound": r.Bound, "ratio": r.Ratio} {
		if !(s.Min > 0 && s.Min <= s.Median && s.Median <= s.Max) {
			t.Errorf("%s: %+v", name, s)
		}
	}
	// Each round's bound is its largest term, so the slowest bound is at least every term's
	// slowest... and no larger than the largest of them.
	if hi := math.Max(r.FFmpegWall.Max, math.Max(r.RawWall.Max, r.CPUTerm.Max)); r.Bound.Max > hi+1e-9 || r.Bound.Min < r.FFmpegWall.Min-1e-9 {
		t.Errorf("bound %+v outside its terms (ffmpeg %+v, raw %+v, cpu %+v)", r.Bound, r.FFmpegWall, r.RawWall, r.CPUTerm)
	}
	if r.Ratio.Max > r.RunWall.Max/r.Bound.Min+1e-9 || r.Ratio.Min < r.RunWall.Min/r.Bound.Max-1e-9 {
		t.Errorf("ratio %+v not run / bound (run %+v, bound %+v)", r.Ratio, r.RunWall, r.Bound)
	}
}
