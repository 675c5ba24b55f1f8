package person

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/persondet"
	"github.com/actionstream/actionstream/training/python"
)

// Files of a run directory.
const (
	ModelFile   = "person-detector.onnx"
	MetricsFile = "metrics.json"
	DataDir     = "data" // the extracted training images (IndexFile, ImagesFile)
)

// FitOptions configure Fit.
type FitOptions struct {
	// Data is a `train synth --actors N` directory, or several separated by commas:
	// their train and val splits train, their test splits are scored.
	Data string
	Out  string // the run directory
	// Heldout, if set, is another synth directory (another seed) scored in full.
	Heldout string
	Extract ExtractConfig
	Epochs  int // 0 = 40
	Batch   int // 0 = 32
	Width   int // the network's base width; 0 = 16
	LR      float64
	Seed    int
	// Strides are the detection heads' strides in input pixels, comma-separated, finest
	// first (each 4, 8, 16 or 32); "" = 8,16.
	Strides string
	// Detector is how the exported model is scored (the serving defaults when zero).
	Detector infer.PersonDetectorConfig
	Runtime  infer.Options
	// Progress, if set, gets one line per epoch.
	Progress io.Writer
}

// Result is what Fit leaves in MetricsFile.
type Result struct {
	Model       string          `json:"model"`
	Bytes       int64           `json:"bytes"`
	Params      int             `json:"params"`
	Size        int             `json:"size"`
	TrainImages int             `json:"train_images"`
	Seconds     float64         `json:"train_seconds"`
	History     json.RawMessage `json:"history"`
	// Test is the Data directory's test split; Heldout the Heldout directory, all of it.
	Test    *Metrics `json:"test,omitempty"`
	Heldout *Metrics `json:"heldout,omitempty"`
	// ScoreThreshold and NMSIoU are the detector settings the metrics were measured at.
	ScoreThreshold float64 `json:"score_threshold"`
	NMSIoU         float64 `json:"nms_iou"`
}

// Fit extracts the training images, trains and exports the detector (person.py), then
// scores the exported file through infer/persondet.
func Fit(ctx context.Context, r *python.Runner, o FitOptions) (Result, error) {
	var res Result
	if o.Data == "" || o.Out == "" {
		return res, fmt.Errorf("%w: data and out are required", ErrBadOptions)
	}
	if o.Epochs < 0 || o.Batch < 0 || o.Width < 0 || o.LR < 0 {
		return res, fmt.Errorf("%w: epochs %d, batch %d, width %d, lr %g", ErrBadOptions, o.Epochs, o.Batch, o.Width, o.LR)
	}
	det := o.Detector
	if det == (infer.PersonDetectorConfig{}) {
		det = infer.DefaultPersonDetectorConfig()
	}
	det.Format = infer.PersonFormatYOLOX
	if err := det.Validate(); err != nil {
		return res, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	ex := o.Extract
	ex.Splits = nil
	var set *Set
	for _, dir := range strings.Split(o.Data, ",") {
		part, err := Extract(ctx, dir, ex)
		if err != nil {
			return res, err
		}
		if set == nil {
			set = part
			continue
		}
		set.Images = append(set.Images, part.Images...)
		set.Pix = append(set.Pix, part.Pix...)
	}
	dataDir := filepath.Join(o.Out, DataDir)
	if err := set.Write(dataDir); err != nil {
		return res, err
	}
	model := filepath.Join(o.Out, ModelFile)
	args := []string{"person-fit", "--data", dataDir, "--out", model, "--seed", strconv.Itoa(o.Seed)}
	if o.Strides != "" {
		args = append(args, "--strides", o.Strides)
	}
	for _, a := range []struct {
		flag string
		v    float64
	}{{"--epochs", float64(o.Epochs)}, {"--batch", float64(o.Batch)}, {"--width", float64(o.Width)}, {"--lr", o.LR}} {
		if a.v > 0 {
			args = append(args, a.flag, strconv.FormatFloat(a.v, 'g', -1, 64))
		}
	}
	raw, err := r.Run(ctx, args, func(m python.Message) error {
		if o.Progress != nil {
			var p struct{ Loss, Elapsed float64 }
			_ = json.Unmarshal(m.Raw, &p)
			fmt.Fprintf(o.Progress, "person fit: epoch %d/%d loss %.3f (%.0f s)\n", m.Step, m.Total, p.Loss, p.Elapsed)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	var py struct {
		Bytes       int64           `json:"bytes"`
		Params      int             `json:"params"`
		Size        int             `json:"size"`
		TrainImages int             `json:"train_images"`
		Seconds     float64         `json:"seconds"`
		History     json.RawMessage `json:"history"`
	}
	if err := json.Unmarshal(raw, &py); err != nil {
		return res, fmt.Errorf("person: trainer result: %w", err)
	}
	res = Result{Model: model, Bytes: py.Bytes, Params: py.Params, Size: py.Size, TrainImages: py.TrainImages,
		Seconds: py.Seconds, History: py.History, ScoreThreshold: det.ScoreThreshold, NMSIoU: det.NMSIoU}

	rt, err := infer.NewRuntime(o.Runtime)
	if err != nil {
		return res, err
	}
	defer rt.Close()
	det.Path = model
	d, err := persondet.Open(rt, det)
	if err != nil {
		return res, err
	}
	defer d.Close()
	if m, err := Evaluate(ctx, d, set, "test"); err != nil {
		return res, err
	} else if m.Images > 0 {
		res.Test = &m
	}
	if o.Heldout != "" {
		held, err := Extract(ctx, o.Heldout, ExtractConfig{Size: ex.Size, ResizeShortSide: ex.ResizeShortSide,
			Frames: ex.Frames, SamplingRate: ex.SamplingRate, Logger: ex.Logger})
		if err != nil {
			return res, err
		}
		m, err := Evaluate(ctx, d, held, "")
		if err != nil {
			return res, err
		}
		res.Heldout = &m
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(o.Out, MetricsFile), append(b, '\n'), 0o644); err != nil {
		return res, fmt.Errorf("person: %w", err)
	}
	return res, nil
}
