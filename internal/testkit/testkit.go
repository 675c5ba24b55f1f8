// Package testkit makes the real fixtures that tests across packages share: small ONNX models
// exported by the PyTorch trainer and video files encoded by the ffmpeg CLI.
package testkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

var (
	modelOnce sync.Once
	modelDir  string
	modelPath string
	modelErr  error
)

// TinyLabels are the classes of TinyModel.
var TinyLabels = []string{"left", "right", "still"}

// TinyModel returns an X3D-shaped model small enough for fast tests (4 frames × τ 6 at 32 px,
// 3 classes, random init), exported once per test binary through the real PyTorch exporter.
func TinyModel(t testing.TB) string {
	t.Helper()
	modelOnce.Do(func() {
		modelDir, modelErr = os.MkdirTemp("", "actionstream-testmodel-")
		if modelErr != nil {
			return
		}
		arch, err := x3d.Build(x3d.Factors{Frames: 4, SamplingRate: 6, Crop: 32, Width: 1, Bottleneck: 1, Depth: 1}, "tiny", len(TinyLabels))
		if err != nil {
			modelErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		r, err := python.New(ctx, python.Options{Threads: 1})
		if err != nil {
			modelErr = err
			return
		}
		p := filepath.Join(modelDir, "tiny.onnx")
		if _, err := r.Export(ctx, python.ExportOptions{Arch: arch, Out: p, Labels: TinyLabels, Seed: 1}); err != nil {
			modelErr = err
			return
		}
		modelPath = p
	})
	if modelErr != nil {
		t.Fatalf("exporting the tiny test model: %v", modelErr)
	}
	return modelPath
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
