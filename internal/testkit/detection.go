package testkit

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// DetectionLabels are the classes of the detection fixtures: a red actor waves, a blue one walks.
var DetectionLabels = []string{"wave", "walk"}

// Detection fixture modes (the contract's actionstream.detection.mode).
const (
	DetectionSingleStage = "single_stage"
	DetectionRoI         = "roi"
)

// DetectionModel returns the committed detection fixture of mode (testdata/detect_<mode>.onnx,
// written by makedetect/make_detect.py): no training, a fixed graph that finds a red and a blue
// square on the clip's key frame (4 frames × τ 6 at 64 px, stride 8), so tests of the detection
// path need no Python.
func DetectionModel(t testing.TB, mode string) string {
	t.Helper()
	p := DetectionModelPath(mode)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the committed detection test model: %v (regenerate: see DetectionModelPath)", err)
	}
	return p
}

// DetectionModelPath is where the committed detection fixture of mode lives. Regenerate with
// /usr/bin/python3 internal/testkit/makedetect/make_detect.py --mode MODE --out PATH.
func DetectionModelPath(mode string) string {
	return filepath.Join(testkitDir(), "testdata", "detect_"+mode+".onnx")
}

// DetectionScript is make_detect.py.
func DetectionScript() string { return filepath.Join(testkitDir(), "makedetect", "make_detect.py") }

func testkitDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Python is the interpreter for fixture scripts: $ACTIONSTREAM_PYTHON, else Debian's
// /usr/bin/python3 (with python3-onnx), else python3 on PATH.
func Python() string {
	if p := os.Getenv("ACTIONSTREAM_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// TwoActors is a video for the detection fixtures: a 160x96 grey frame at 30 fps, a red 24 px
// square ("wave") moving right along the top and a blue 20 px square ("walk") moving left along
// the bottom, both inside the centre crop a 64 px model takes. Positions are even pixels, so
// chroma subsampling keeps the edges.
type TwoActors struct{}

// Size is the video's frame size.
func (TwoActors) Size() (w, h int) { return 160, 96 }

func (TwoActors) redX(n int) int  { return 36 + 2*(n/6) }
func (TwoActors) blueX(n int) int { return 100 - 2*(n/8) }

// Truth is each label's true box at frame n, [x1, y1, x2, y2] as fractions of the frame.
func (v TwoActors) Truth(n int) map[string][4]float32 {
	w, h := v.Size()
	fw, fh := float32(w), float32(h)
	rx, bx := float32(v.redX(n)), float32(v.blueX(n))
	return map[string][4]float32{
		"wave": {rx / fw, 10 / fh, (rx + 24) / fw, 34 / fh},
		"walk": {bx / fw, 60 / fh, (bx + 20) / fw, 80 / fh},
	}
}

// Make encodes seconds of the video (H.264 in MP4) into dir and returns its path.
func (v TwoActors) Make(t testing.TB, dir string, seconds int) string {
	t.Helper()
	w, h := v.Size()
	out := filepath.Join(dir, "two_actors.mp4")
	d := strconv.Itoa(seconds)
	FFmpeg(t, "-f", "lavfi", "-i", "color=c=0x808080:s="+strconv.Itoa(w)+"x"+strconv.Itoa(h)+":r=30:d="+d,
		"-f", "lavfi", "-i", "color=c=0xff0000:s=24x24:r=30:d="+d,
		"-f", "lavfi", "-i", "color=c=0x0000ff:s=20x20:r=30:d="+d,
		"-filter_complex", "[0][1]overlay=x='36+2*floor(n/6)':y=10[a];[a][2]overlay=x='100-2*floor(n/8)':y=60,format=yuv420p",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", out)
	return out
}
