package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/internal/testkit"
)

// A bad motion section stops serve before anything starts, naming the field.
func TestServeRefusesABadMotionMask(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	yaml := "model: {path: m.onnx}\nstate_dir: " + dir + "\nstreams: [{id: yard, url: a.mp4}]\n" +
		"motion: {enabled: true, streams: {yard: {masks: [{x: 0.8, y: 0, w: 0.4, h: 0.2}]}}}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "serve", "--config", cfg)
	want := "config: motion.streams.yard.masks[0] must lie inside the frame (x+w and y+h <= 1, fractions of its size), not x+w 1.2"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
}

// run --motion-gate on a still scene: its summary line counts the gated clips, and bench gate
// reports both sides with the ratio.
func TestRunAndBenchGateOnAStillScene(t *testing.T) {
	model := testkit.TinyModel(t)
	video := filepath.Join(t.TempDir(), "still.mp4")
	testkit.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-vf", "trim=end_frame=1,loop=loop=-1:size=1:start=0,setpts=N/30/TB,noise=alls=20:allf=t+u",
		"-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", video)
	code, _, stderr := runCLI(t, "run", "--model", model, "--input", video, "--threads", "1", "--motion-gate")
	m := regexp.MustCompile(`clips scored 1, clips dropped (\d+) \(backward 0, gap 0, gated (\d+), reset 0, stale 0\)`).FindStringSubmatch(stderr)
	if code != 0 || m == nil || m[1] != m[2] || m[1] == "0" {
		t.Fatalf("run --motion-gate: exit %d, stderr %s", code, stderr)
	}
	code, out, stderr := runCLI(t, "bench", "gate", "--model", model, "--input", video, "--runs", "1")
	if code != 0 || !regexp.MustCompile(`(?m)^gating off .* scored (\d+) \(\d+ model calls\), gated 0$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^gating on .* scored 1 \(1 model calls\), gated \d+$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^ratio +\d+\.\d \(median inference time off / on; target >= 5\)`).MatchString(out) ||
		!strings.Contains(out, "load average") {
		t.Fatalf("bench gate: exit %d\n%s\n%s", code, out, stderr)
	}
}
