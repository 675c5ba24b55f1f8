// Package persondet runs a user-supplied person detector ONNX model on images (a clip's
// key frame) and returns person boxes for the RoI detection mode. It reads two export
// formats, each with its own project's preprocessing (docs/MODEL_CONTRACT.md, "Person
// detectors"):
//
//   - yolox: YOLOX (Megvii-BaseDetection) exported with its decode head
//     (tools/export_onnx.py --decode_in_inference): output [N, boxes, 4+1+classes] =
//     (cx, cy, w, h) in input pixels, objectness, class scores; input BGR 0–255,
//     letterboxed at the top-left with grey 114.
//   - yolov8: Ultralytics YOLOv8-style Detect export: output [N, 4+classes, boxes] =
//     (cx, cy, w, h) in input pixels, class scores, no objectness; input RGB / 255,
//     letterboxed centred with grey 114.
//
// The input size is the model's own (its fixed input shape). Score threshold and
// class-wise NMS run here, in Go; boxes come back as fractions of the image.
//
//	d, err := persondet.Open(rt, cfg.Detection.PersonDetector) // rt: an *infer.Runtime
//	defer d.Close()                                        // before rt.Close
//	dets, err := d.DetectClips(ctx, clips, meta.Mean, meta.Std) // per clip, on its key
//	                                                            // frame: fractions of the crop
package persondet

import (
	"context"
	"fmt"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/infer"
)

// maxChunk bounds the images of one model call for a model with a dynamic batch.
const maxChunk = 16

// Detector is an open person detector. Safe for concurrent use; model calls are serialised.
type Detector struct {
	cfg      infer.PersonDetectorConfig
	path     string
	provider string
	lay      layout

	mu     sync.Mutex // guards sess, closed, buf
	sess   *ort.DynamicAdvancedSession
	closed bool
	buf    []float32
}

// Open reads the model at cfg.Path, checks that its input and output are the configured
// format's (ErrBadModel, ErrFormatMismatch) and makes its session on rt (rt's threads
// and provider). Close it before rt.
func Open(rt *infer.Runtime, cfg infer.PersonDetectorConfig) (*Detector, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("%w: no model path", ErrBadConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	b, err := os.ReadFile(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("person detector: %w", err)
	}
	if err := rt.Loaded(); err != nil { // a library still loading (Options.LoadInBackground)
		return nil, fmt.Errorf("person detector %s: %w", cfg.Path, err)
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(b)
	if err != nil {
		return nil, fmt.Errorf("person detector %s: %w: %v", cfg.Path, ErrBadModel, err)
	}
	lay, err := checkLayout(cfg.Format, cfg.Class, ins, outs)
	if err != nil {
		return nil, fmt.Errorf("person detector %s: %w", cfg.Path, err)
	}
	sess, provider, err := rt.NewSession(b, []string{lay.input}, []string{lay.output})
	if err != nil {
		return nil, fmt.Errorf("person detector %s: %w", cfg.Path, err)
	}
	d := &Detector{cfg: cfg, path: cfg.Path, provider: provider, lay: lay, sess: sess}
	// An export may leave the output's axes symbolic: one run on a blank input shows the
	// real layout, so a wrong format fails here rather than at the first frame.
	if _, _, _, err := d.infer(max(1, lay.batch), nil); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// InputSize is the network's input width and height in pixels.
func (d *Detector) InputSize() (w, h int) { return d.lay.width, d.lay.height }

// Provider is the execution provider the session runs on.
func (d *Detector) Provider() string { return d.provider }

// Detect finds the persons in one image.
func (d *Detector) Detect(ctx context.Context, im Image) ([]Detection, error) {
	out, err := d.DetectBatch(ctx, []Image{im})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// DetectBatch finds the persons in each image (any sizes), batching model calls: all of
// them at once up to 16 for a model with a dynamic batch, in fixed-size calls (the last
// one padded) otherwise. ctx is checked before each call.
func (d *Detector) DetectBatch(ctx context.Context, ims []Image) ([][]Detection, error) {
	for i, im := range ims {
		if err := im.check(); err != nil {
			return nil, fmt.Errorf("person detector: image %d: %w", i, err)
		}
	}
	chunk := maxChunk
	if d.lay.batch > 0 {
		chunk = d.lay.batch
	}
	res := make([][]Detection, 0, len(ims))
	for start := 0; start < len(ims); start += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		part := ims[start:min(start+chunk, len(ims))]
		dets, err := d.run(part, max(len(part), d.lay.batch))
		if err != nil {
			return nil, err
		}
		res = append(res, dets...)
	}
	return res, nil
}

// DetectClips finds the persons on each clip's key frame (KeyFrame, with the action
// model's mean and std): boxes are fractions of the clip's S×S crop, what an RoI model's
// `rois` input takes.
func (d *Detector) DetectClips(ctx context.Context, clips []*clipper.Clip, mean, std [3]float32) ([][]Detection, error) {
	ims := make([]Image, len(clips))
	for i, c := range clips {
		im, err := KeyFrame(c, mean, std)
		if err != nil {
			return nil, fmt.Errorf("person detector: clip %d: %w", i, err)
		}
		ims[i] = im
	}
	return d.DetectBatch(ctx, ims)
}

// run runs one model call on ims, padded to n images, and decodes each image's boxes.
func (d *Detector) run(ims []Image, n int) ([][]Detection, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	lbs := make([]letterbox, len(ims))
	data, boxes, feats, err := d.infer(n, func(buf []float32, per int) {
		for i, im := range ims {
			lbs[i] = preprocess(d.cfg.Format, im, d.lay.width, d.lay.height, buf[i*per:(i+1)*per])
		}
	})
	if err != nil {
		return nil, err
	}
	thr, iou := float32(d.cfg.ScoreThreshold), float32(d.cfg.NMSIoU)
	res := make([][]Detection, len(ims))
	for i, im := range ims {
		one := data[i*boxes*feats : (i+1)*boxes*feats]
		cands, err := decodeOutput(d.cfg.Format, one, boxes, feats, d.cfg.Class, thr)
		if err != nil {
			return nil, fmt.Errorf("person detector %s: %w", d.path, err)
		}
		res[i] = NMS(toDetections(cands, lbs[i], im.Width, im.Height), iou)
	}
	return res, nil
}

// infer runs the model on n inputs that fill writes (nil: all grey padding), checks the
// output's shape and returns a copy of its values. d.mu must be held.
func (d *Detector) infer(n int, fill func(buf []float32, per int)) (data []float32, boxes, feats int, err error) {
	if d.closed {
		return nil, 0, 0, ErrClosed
	}
	w, h := d.lay.width, d.lay.height
	per := 3 * w * h
	if cap(d.buf) < n*per {
		d.buf = make([]float32, n*per)
	}
	buf := d.buf[:n*per]
	pad := float32(padValue)
	if d.cfg.Format != infer.PersonFormatYOLOX {
		pad /= 255
	}
	for i := range buf {
		buf[i] = pad
	}
	if fill != nil {
		fill(buf, per)
	}
	in, err := ort.NewTensor(ort.NewShape(int64(n), 3, int64(h), int64(w)), buf)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("person detector: input tensor: %w", err)
	}
	defer in.Destroy()
	outs := []ort.Value{nil}
	if err := d.sess.Run([]ort.Value{in}, outs); err != nil {
		return nil, 0, 0, fmt.Errorf("person detector %s: run (batch %d): %w", d.path, n, err)
	}
	defer outs[0].Destroy()
	out, ok := outs[0].(*ort.Tensor[float32])
	if !ok {
		return nil, 0, 0, fmt.Errorf("person detector %s: %w: output is not a float32 tensor", d.path, ErrBadModel)
	}
	boxes, feats, err = d.lay.outputDims(out.GetShape(), n)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("person detector %s: %w", d.path, err)
	}
	if classes := feats - headLen(d.cfg.Format); d.cfg.Class >= classes {
		return nil, 0, 0, fmt.Errorf("person detector %s: %w: class %d, but output %q has %d classes", d.path, ErrBadModel, d.cfg.Class, d.lay.output, classes)
	}
	return append([]float32(nil), out.GetData()...), boxes, feats, nil
}

// Close destroys the session; it waits for a call in progress. Idempotent.
func (d *Detector) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.sess.Destroy()
	d.sess, d.buf = nil, nil
	if err != nil {
		return fmt.Errorf("person detector %s: close: %w", d.path, err)
	}
	return nil
}

// OpenConfigured opens cfg's detector, or returns (nil, nil) when cfg.Path is "": the
// call for a pipeline whose person detector is optional.
func OpenConfigured(rt *infer.Runtime, cfg infer.PersonDetectorConfig) (*Detector, error) {
	if cfg.Path == "" {
		return nil, nil
	}
	return Open(rt, cfg)
}
