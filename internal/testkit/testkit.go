// Package testkit holds the real fixtures that tests across packages share: a small committed ONNX
// model exported by the PyTorch trainer and video files encoded by the ffmpeg CLI.
package testkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/training/x3d"
)

// TinyLabels are the classes of TinyModel.
var TinyLabels = []string{"left", "right", "still"}

// TinyArch is the network of TinyModel: X3D-shaped, small enough for fast tests (4 frames × τ 6 at
// 32 px, 3 classes).
func TinyArch() x3d.Arch {
	arch, err := x3d.Build(x3d.Factors{Frames: 4, SamplingRate: 6, Crop: 32, Width: 1, Bottleneck: 1, Depth: 1}, "tiny", len(TinyLabels))
	if err != nil {
		panic(fmt.Sprintf("testkit: the tiny architecture does not build: %v", err))
	}
	return arch
}

// TinySeed is the seed of TinyModel's random initialisation.
const TinySeed = 1

// TinyModel returns the committed tiny model (testdata/tiny.onnx, made by
// `go run ./internal/testkit/maketiny` through the real PyTorch exporter), so tests that only
// serve a model need no Python.
func TinyModel(t testing.TB) string {
	t.Helper()
	p := TinyModelPath()
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the committed tiny test model: %v (regenerate: go run ./internal/testkit/maketiny)", err)
	}
	return p
}

// TinyModelPath is where the committed tiny model lives in the source tree.
func TinyModelPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", "tiny.onnx")
}

// Video describes a generated test video.
type Video struct {
	FPS      string  // frame rate as ffmpeg takes it ("30", "30000/1001")
	Seconds  float64 // duration
	Size     string  // "WxH"; default 96x72
	Codec    string  // libx264 (default) or mpeg4, libvpx, mjpeg
	Ext      string  // container extension; default mp4
	Filter   string  // extra -vf filter (e.g. a setpts expression for variable frame rate)
	ExtraOut []string
}

// MakeVideo encodes a moving test pattern with the ffmpeg CLI into dir and returns its path.
func MakeVideo(t testing.TB, dir string, v Video) string {
	t.Helper()
	if v.Size == "" {
		v.Size = "96x72"
	}
	if v.Codec == "" {
		v.Codec = "libx264"
	}
	if v.Ext == "" {
		v.Ext = "mp4"
	}
	name := fmt.Sprintf("v_%s_%s_%g_%s.%s", strings.ReplaceAll(v.FPS, "/", "-"), v.Codec, v.Seconds, v.Size, v.Ext)
	out := filepath.Join(dir, name)
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=%s:rate=%s:duration=%g", v.Size, v.FPS, v.Seconds)}
	if v.Filter != "" {
		args = append(args, "-vf", v.Filter)
	}
	args = append(args, "-c:v", v.Codec)
	if v.Codec == "libx264" {
		args = append(args, "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-g", "30")
	}
	args = append(args, v.ExtraOut...)
	args = append(args, out)
	cmd := exec.Command("ffmpeg", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
	}
	return out
}

// FramePTS lists a video's frame presentation times in decoding order, read with ffprobe
// (independently of our own demuxer).
func FramePTS(t testing.TB, path string) []time.Duration {
	t.Helper()
	b, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var out []time.Duration
	for _, line := range strings.Fields(string(b)) {
		line = strings.TrimSuffix(line, ",")
		var sec float64
		if _, err := fmt.Sscanf(line, "%g", &sec); err != nil {
			t.Fatalf("ffprobe line %q: %v", line, err)
		}
		out = append(out, time.Duration(sec*float64(time.Second)+0.5))
	}
	return out
}

// NeedsPython marks a test that runs Debian's PyTorch, ONNX or NumPy: the short tier
// (go test -short) skips it; the full suite (scripts/test, CI) always runs it.
func NeedsPython(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Python (PyTorch/ONNX/NumPy); run without -short")
	}
}

// FFmpeg runs the ffmpeg CLI with args (quiet, overwriting, no stdin, at most a minute) and
// fails the test with its output if it fails.
func FFmpeg(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)
	if out, err := exec.CommandContext(ctx, "ffmpeg", full...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}
