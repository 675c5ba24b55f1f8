package persondet

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/infer"
)

func runtime(t *testing.T) *infer.Runtime {
	t.Helper()
	rt, err := infer.NewRuntime(infer.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func open(t *testing.T, rt *infer.Runtime, name, format string) *Detector {
	t.Helper()
	cfg := infer.DefaultPersonDetectorConfig()
	cfg.Path, cfg.Format = fixture(t, name), format
	d, err := Open(rt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// uniform is a w×h image of one colour.
func uniform(w, h int, r, g, b uint8) Image {
	im := Image{Width: w, Height: h, Pix: make([]uint8, 3*w*h)}
	for i := 0; i < w*h; i++ {
		im.Pix[3*i], im.Pix[3*i+1], im.Pix[3*i+2] = r, g, b
	}
	return im
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-4 }

func checkDets(t *testing.T, got, want []Detection) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d detections %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		ok := near(g.Score, w.Score) && g.Class == w.Class
		for k := range 4 {
			ok = ok && near(g.Box[k], w.Box[k])
		}
		if !ok {
			t.Errorf("detection %d = %+v, want %+v", i, g, w)
		}
	}
}

// The fixture's rows (testdata/make_detectors.py) seen through a 200x100 image (R 200, G 60,
// B 20) letterboxed into the 64x64 input at r = 0.32: the 64x32 image sits at the top-left
// (YOLOX) or centred at rows 16..47 (Ultralytics). Expected: row 0 kept (row 1 suppressed,
// rows 2-4 filtered), row 5, and the two probes, whose scores are input pixels: probe 10 the
// red channel (YOLOX: BGR channel 2 /255; YOLOv8: channel 0 already /255) = 200/255; probe
// 11 a pixel of the padding = 114/255 (YOLOX: input row 40, below the image; YOLOv8: row 5,
// above it).
func TestDetectYOLOX(t *testing.T) {
	d := open(t, runtime(t), "yolox.onnx", infer.PersonFormatYOLOX)
	if w, h := d.InputSize(); w != 64 || h != 64 {
		t.Fatalf("input size %dx%d, want 64x64", w, h)
	}
	got, err := d.Detect(context.Background(), uniform(200, 100, 200, 60, 20))
	if err != nil {
		t.Fatal(err)
	}
	checkDets(t, got, []Detection{
		{Box: [4]float32{0.125, 0.25, 0.375, 0.75}, Score: 0.9},
		{Box: [4]float32{0.0625, 0.625, 0.1875, 0.875}, Score: 200.0 / 255},
		{Box: [4]float32{0.5625, 0.75, 0.6875, 1}, Score: 0.5}, // clamped: it reaches into the padding
		{Box: [4]float32{0.8125, 0.625, 0.9375, 0.875}, Score: 114.0 / 255},
	})
}

func TestDetectYOLOv8(t *testing.T) {
	d := open(t, runtime(t), "yolov8-batch1.onnx", infer.PersonFormatYOLOv8)
	got, err := d.Detect(context.Background(), uniform(200, 100, 200, 60, 20))
	if err != nil {
		t.Fatal(err)
	}
	checkDets(t, got, []Detection{
		{Box: [4]float32{0.125, 0, 0.375, 0.25}, Score: 0.9}, // clamped at the top
		{Box: [4]float32{0.0625, 0.125, 0.1875, 0.375}, Score: 200.0 / 255},
		{Box: [4]float32{0.5625, 0.25, 0.6875, 0.5}, Score: 0.5},
		{Box: [4]float32{0.8125, 0.125, 0.9375, 0.375}, Score: 114.0 / 255},
	})
}

// Each image of a batch gets its own boxes: a dynamic-batch model in one call, a fixed
// batch-1 model in several.
func TestDetectBatch(t *testing.T) {
	rt := runtime(t)
	red, dark := uniform(200, 100, 200, 60, 20), uniform(200, 100, 50, 60, 20)
	for _, tc := range []struct{ name, format string }{
		{"yolox.onnx", infer.PersonFormatYOLOX}, {"yolov8-batch1.onnx", infer.PersonFormatYOLOv8},
	} {
		d := open(t, rt, tc.name, tc.format)
		got, err := d.DetectBatch(context.Background(), []Image{red, dark, red})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// In the dark image probe 10 scores 50/255 < 0.4: three boxes, not four.
		if len(got) != 3 || len(got[0]) != 4 || len(got[1]) != 3 || len(got[2]) != 4 {
			t.Fatalf("%s: detections per image %d %v", tc.name, len(got), got)
		}
		for _, det := range got[1] {
			if near(det.Score, 200.0/255) {
				t.Errorf("%s: the dark image got the red image's probe box %+v", tc.name, det)
			}
		}
	}
}

func TestDetectCancelled(t *testing.T) {
	d := open(t, runtime(t), "yolox.onnx", infer.PersonFormatYOLOX)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Detect(ctx, uniform(8, 8, 0, 0, 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// Every wrong model fails Open with a sentinel and a message naming the fault and the fix.
func TestOpenRejectsWrongModels(t *testing.T) {
	rt := runtime(t)
	garbage := filepath.Join(t.TempDir(), "garbage.onnx")
	if err := os.WriteFile(garbage, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, format string
		class        int
		sentinel     error
		msg          string
	}{
		{fixture(t, "yolov8-batch1.onnx"), infer.PersonFormatYOLOX, 0, ErrFormatMismatch,
			`output "output0" has shape [1 6 84]: that is yolov8's layout [N, 4+classes, boxes], not yolox is [N, boxes, 4+1+classes] (set format: yolov8)`},
		{fixture(t, "yolox.onnx"), infer.PersonFormatYOLOv8, 0, ErrFormatMismatch,
			`output "output" has shape [-1 84 7]: that is yolox's layout [N, boxes, 4+1+classes], not yolov8 is [N, 4+classes, boxes] (set format: yolox)`},
		{fixture(t, "yolox-rank2.onnx"), infer.PersonFormatYOLOX, 0, ErrBadModel, `output "output" has shape [-1 7], want rank 3: yolox is [N, boxes, 4+1+classes]`},
		{fixture(t, "yolox-dynamic-size.onnx"), infer.PersonFormatYOLOX, 0, ErrBadModel, "the height and width must be fixed"},
		{fixture(t, "yolox-gray.onnx"), infer.PersonFormatYOLOX, 0, ErrBadModel, `input "images" has shape [-1 1 64 64], want [N,3,H,W]`},
		{fixture(t, "yolox-two-inputs.onnx"), infer.PersonFormatYOLOX, 0, ErrBadModel, "2 inputs, want one image input"},
		{fixture(t, "yolox.onnx"), infer.PersonFormatYOLOX, 2, ErrBadModel, `class 2, but output "output" has 2 classes`},
		{garbage, infer.PersonFormatYOLOX, 0, ErrBadModel, "garbage.onnx: not a usable person detector model"},
	} {
		cfg := infer.DefaultPersonDetectorConfig()
		cfg.Path, cfg.Format, cfg.Class = tc.path, tc.format, tc.class
		d, err := Open(rt, cfg)
		if err == nil {
			d.Close()
			t.Errorf("%s as %s: opened", tc.path, tc.format)
			continue
		}
		if !errors.Is(err, tc.sentinel) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s as %s:\n got %v\nwant %v containing %q", tc.path, tc.format, err, tc.sentinel, tc.msg)
		}
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	rt := runtime(t)
	cfg := infer.DefaultPersonDetectorConfig()
	if _, err := Open(rt, cfg); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "no model path") {
		t.Errorf("no path: %v", err)
	}
	cfg.Path, cfg.Format = fixture(t, "yolox.onnx"), "yolo11"
	if _, err := Open(rt, cfg); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), `format must be yolox or yolov8, not "yolo11"`) {
		t.Errorf("bad format: %v", err)
	}
	if d, err := OpenConfigured(rt, infer.DefaultPersonDetectorConfig()); d != nil || err != nil {
		t.Errorf("OpenConfigured without a path = %v, %v; want nil, nil", d, err)
	}
}

// A YOLOX export without its decode head has log-space sizes; it is refused at the first
// box instead of giving nonsense boxes.
func TestDetectRefusesUndecodedYOLOX(t *testing.T) {
	d := open(t, runtime(t), "yolox-raw.onnx", infer.PersonFormatYOLOX)
	_, err := d.Detect(context.Background(), uniform(64, 64, 0, 0, 0))
	if !errors.Is(err, ErrNotDecoded) || !strings.Contains(err.Error(), "export YOLOX with --decode_in_inference") {
		t.Fatalf("err = %v, want ErrNotDecoded naming --decode_in_inference", err)
	}
}

func TestDetectRejectsBadImageAndClosed(t *testing.T) {
	d := open(t, runtime(t), "yolox.onnx", infer.PersonFormatYOLOX)
	_, err := d.Detect(context.Background(), Image{Width: 4, Height: 4, Pix: make([]uint8, 10)})
	if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), "4x4 RGB needs 48 bytes, got 10") {
		t.Errorf("short image: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Detect(context.Background(), uniform(4, 4, 0, 0, 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
