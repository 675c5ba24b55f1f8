// Package fit trains an X3D network on a prepared dataset (training/dataset) with the
// PyTorch trainer (training/python), renders the trainer's JSON progress lines as a
// terminal progress bar, and leaves a run directory with the checkpoint, metrics.json,
// curves.png (loss and accuracy per epoch) and the exported ONNX model carrying the
// complete model-contract metadata.
package fit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actionstream/actionstream/training/dataset"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

// Files of a run directory.
const (
	ArchFile       = "arch.json"
	CheckpointFile = "checkpoint.pt" // weights, optimizer state and history (resume)
	WeightsFile    = "weights.pt"    // the final weights alone
	MetricsFile    = "metrics.json"
	CurvesFile     = "curves.png"
	ModelFile      = "model.onnx"
)

// Recipe is the optimisation recipe. The zero value of a field takes DefaultRecipe's.
type Recipe struct {
	Epochs       int     `json:"epochs"`
	Batch        int     `json:"batch"`
	LR           float64 `json:"lr"`            // peak learning rate (after warm-up)
	FinalLRFrac  float64 `json:"final_lr_frac"` // cosine ends at LR×this
	Momentum     float64 `json:"momentum"`
	WeightDecay  float64 `json:"weight_decay"`  // conv/linear weights only; none on BN and biases
	WarmupEpochs float64 `json:"warmup_epochs"` // negative = no warm-up
	// Dropout before the classifier: 0 = the architecture's (X3D: 0.5); negative = none.
	Dropout float64 `json:"dropout"`
	// JitterMin..JitterMax is the short-side jitter range in pixels (the stored square
	// is the frame at short side resize R; a random square is cut so the frame's short
	// side looks like j ∈ [min,max], resized to the crop). 0 = off: the serving crop.
	JitterMin float64 `json:"jitter_min"`
	JitterMax float64 `json:"jitter_max"`
	// Flip mirrors half the clips horizontally. Off by default: it turns a "left" clip
	// into a "right" one; FlipPairs ("move_left:move_right,rotate_cw:rotate_ccw") says
	// which labels it swaps, which makes it valid for direction classes too.
	Flip      bool   `json:"flip"`
	FlipPairs string `json:"flip_pairs,omitempty"`
	// VFlip mirrors half the clips vertically, swapping VFlipPairs.
	VFlip      bool   `json:"vflip"`
	VFlipPairs string `json:"vflip_pairs,omitempty"`
	// Reverse plays half the clips backwards, swapping ReversePairs (left:right,
	// grow:shrink, ...): the same frames in the other order carry the other label, so
	// appearance alone cannot fit the training set and the network must use motion.
	Reverse      bool   `json:"reverse"`
	ReversePairs string `json:"reverse_pairs,omitempty"`
	// SingleFrame trains a 1-frame network (X2D) on one frame of each stored clip:
	// k > 0 = frame k (1-based), -1 = a random frame (validation: the middle one).
	SingleFrame int   `json:"single_frame,omitempty"`
	Seed        int64 `json:"seed"`
}

// DefaultRecipe is a short-schedule recipe that suits small datasets.
var DefaultRecipe = Recipe{Epochs: 10, Batch: 16, LR: 0.05, Momentum: 0.9, WeightDecay: 5e-5,
	WarmupEpochs: 1}

func (r Recipe) withDefaults() Recipe {
	d := DefaultRecipe
	if r.Epochs == 0 {
		r.Epochs = d.Epochs
	}
	if r.Batch == 0 {
		r.Batch = d.Batch
	}
	if r.LR == 0 {
		r.LR = d.LR
	}
	if r.Momentum == 0 {
		r.Momentum = d.Momentum
	}
	if r.WeightDecay == 0 {
		r.WeightDecay = d.WeightDecay
	}
	switch {
	case r.WarmupEpochs == 0:
		r.WarmupEpochs = d.WarmupEpochs
	case r.WarmupEpochs < 0:
		r.WarmupEpochs = 0
	}
	return r
}

// Options describe one training run.
type Options struct {
	Arch   x3d.Arch // NumClasses, Frames and CropSize must match the dataset
	Data   string   // prepared dataset directory
	Out    string   // run directory (created)
	Name   string   // model name in the ONNX metadata; "" = Arch.Name
	Recipe Recipe
	Device string // "cpu" (default) or "cuda"
	// Resume continues from Out's checkpoint (same architecture) instead of starting over.
	Resume   bool
	ValSplit string // "" = "val"; "-" = none
	ValEvery int    // validate every N epochs (and after the last); 0 = 1
	// TrainedOn is the ONNX trained_on text; "" = derived from the dataset.
	TrainedOn string
	// NoExport skips the ONNX export (a search that only needs the accuracy).
	NoExport bool
	// Bar, if set, receives a one-line progress bar redrawn in place (a terminal).
	Bar io.Writer
	// OnEpoch, if set, is called after every epoch with its record.
	OnEpoch func(Epoch)
	// Task is TaskClassification ("" too), TaskDetection or TaskRoI; a detection task
	// needs a detection dataset (train prepare --boxes) and adds a detection head of
	// DetectionChannels (0 = 64) to Arch unless Arch already has one of its mode.
	Task              string
	DetectionChannels int
	DetectionStride   int // 0 = x3d.DefaultDetectionStride
	// Init starts a detection network's backbone (and neck) from another run's
	// weights.pt, or from an exported model of the contract (.onnx): the classification
	// twin gives the backbone, a detection model of the same mode all its convs (to
	// fine-tune it whole; their folded BN keeps its statistics). FreezeBackbone then
	// trains only the neck and head.
	Init           string
	FreezeBackbone bool
	// FeatureCache keeps the frozen backbone's features in this directory, so a second
	// run on the same data and backbone (roi after detection) skips the backbone pass.
	FeatureCache string
	// RoINegatives (roi only) adds this many background boxes per clip, each missing
	// every actor (IoU < 0.3), trained to score no class: a person detector's boxes on
	// the backdrop then score low.
	RoINegatives int
}

// Tasks of `train fit`.
const (
	TaskClassification = "classification"
	TaskDetection      = "detection" // single-stage head (x3d.ModeSingleStage)
	TaskRoI            = "roi"       // RoI head (x3d.ModeRoI)
)

// DefaultDetectionChannels is the neck and head width of a detection network.
const DefaultDetectionChannels = 64

// WithTask returns a with the detection head the task asks for.
func WithTask(a x3d.Arch, task string, channels, stride int) (x3d.Arch, error) {
	mode := ""
	switch task {
	case "", TaskClassification:
		if a.Detection != nil {
			return a, fmt.Errorf("%w: architecture %s has a %s detection head: use --task detection or roi", ErrOptions, a.Name, a.Detection.Mode)
		}
		return a, nil
	case TaskDetection:
		mode = x3d.ModeSingleStage
	case TaskRoI:
		mode = x3d.ModeRoI
	default:
		return a, fmt.Errorf("%w: task %q (want %s, %s or %s)", ErrOptions, task, TaskClassification, TaskDetection, TaskRoI)
	}
	if a.Detection != nil {
		if a.Detection.Mode != mode {
			return a, fmt.Errorf("%w: architecture %s has a %s head, task %s wants %s", ErrOptions, a.Name, a.Detection.Mode, task, mode)
		}
		return a, nil
	}
	if channels == 0 {
		channels = DefaultDetectionChannels
	}
	if stride == 0 {
		stride = x3d.DefaultDetectionStride
	}
	b, err := a.WithDetectionStride(mode, channels, stride)
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return b, nil
}

// Epoch is one epoch's record (what the trainer reports).
type Epoch struct {
	Epoch     int      `json:"epoch"`
	LR        float64  `json:"lr"`
	TrainLoss float64  `json:"train_loss"`
	TrainAcc  float64  `json:"train_acc"`
	ValLoss   *float64 `json:"val_loss,omitempty"`
	ValTop1   *float64 `json:"val_top1,omitempty"`
	ValTop5   *float64 `json:"val_top5,omitempty"`
	ClipsPerS float64  `json:"clips_per_s"`
	Seconds   float64  `json:"seconds"`
	Confusion [][]int  `json:"val_confusion,omitempty"`
	// Detection runs: val frame-mAP@0.5 on the key frames, and (last epoch) AP per class.
	ValMAP *float64   `json:"val_map,omitempty"`
	ValAP  []*float64 `json:"val_ap,omitempty"`
}

// Metrics is metrics.json.
type Metrics struct {
	Name        string      `json:"name"`
	Arch        string      `json:"arch"`
	Factors     x3d.Factors `json:"factors"`
	MACs        int64       `json:"macs"`
	Params      int64       `json:"params"`
	Labels      []string    `json:"labels"`
	Data        string      `json:"data"`
	TrainClips  int         `json:"train_clips"`
	ValClips    int         `json:"val_clips"`
	Recipe      Recipe      `json:"recipe"`
	Device      string      `json:"device"`
	Torch       string      `json:"torch"`
	Threads     int         `json:"threads"`
	Seconds     float64     `json:"seconds"`
	ClipsPerS   float64     `json:"clips_per_s"` // training throughput over the whole run
	History     []Epoch     `json:"history"`
	ValTop1     *float64    `json:"val_top1,omitempty"`
	ValTop5     *float64    `json:"val_top5,omitempty"`
	PerClassVal []float64   `json:"per_class_val_top1,omitempty"`
	ValMAP      *float64    `json:"val_map,omitempty"`
	ValAP       []*float64  `json:"val_ap,omitempty"` // per label; null = no val actor of it
	Model       string      `json:"model,omitempty"`
	Checkpoint  string      `json:"checkpoint"`
	Finished    time.Time   `json:"finished"`
}

// Result is where a run left its files.
type Result struct {
	Dir, Model, Checkpoint, MetricsPath, CurvesPath string
	Metrics                                         Metrics
}

type pyResult struct {
	Checkpoint string  `json:"checkpoint"`
	Weights    string  `json:"weights"`
	History    []Epoch `json:"history"`
	Device     string  `json:"device"`
	TrainClips int     `json:"train_clips"`
	ValClips   int     `json:"val_clips"`
	Seconds    float64 `json:"seconds"`
	ClipsPerS  float64 `json:"clips_per_s"`
	Torch      string  `json:"torch"`
	Threads    int     `json:"threads"`
}

// Fit trains, writes metrics.json and curves.png, and exports Out/model.onnx.
func Fit(ctx context.Context, r *python.Runner, o Options) (Result, error) {
	rec := o.Recipe.withDefaults()
	if o.Data == "" || o.Out == "" {
		return Result{}, fmt.Errorf("%w: data and out are required", ErrOptions)
	}
	if rec.Epochs < 1 || rec.Batch < 1 || rec.LR <= 0 || rec.Dropout >= 1 {
		return Result{}, fmt.Errorf("%w: recipe %+v", ErrOptions, rec)
	}
	if rec.JitterMin < 0 || rec.JitterMax < rec.JitterMin {
		return Result{}, fmt.Errorf("%w: jitter range %g..%g", ErrOptions, rec.JitterMin, rec.JitterMax)
	}
	device := o.Device
	if device == "" {
		device = "cpu"
	}
	if device != "cpu" && device != "cuda" && !isCUDAIndex(device) {
		return Result{}, fmt.Errorf("%w: device %q (cpu or cuda)", ErrOptions, device)
	}
	ds, err := dataset.Open(o.Data)
	if err != nil {
		return Result{}, err
	}
	ix := ds.Index
	a := o.Arch
	frames := ix.Frames
	if rec.SingleFrame != 0 {
		if rec.SingleFrame > ix.Frames || rec.SingleFrame < -1 {
			return Result{}, fmt.Errorf("%w: single frame %d of %d-frame clips", ErrOptions, rec.SingleFrame, ix.Frames)
		}
		frames = 1
	}
	if a.NumClasses != len(ix.Labels) || a.Frames != frames || a.CropSize != ix.Size {
		return Result{}, fmt.Errorf("%w: arch %s has %d classes, T=%d, S=%d; dataset %d labels, T=%d, S=%d",
			ErrData, a.Name, a.NumClasses, a.Frames, a.CropSize, len(ix.Labels), frames, ix.Size)
	}
	if a.SamplingRate != ix.SamplingRate && rec.SingleFrame == 0 {
		return Result{}, fmt.Errorf("%w: arch τ=%d, dataset τ=%d", ErrData, a.SamplingRate, ix.SamplingRate)
	}
	switch {
	case rec.Dropout > 0:
		a.Head.Dropout = rec.Dropout
	case rec.Dropout < 0:
		a.Head.Dropout = 0
	}
	rec.Dropout = a.Head.Dropout
	if err := a.Validate(); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if a, err = WithTask(a, o.Task, o.DetectionChannels, o.DetectionStride); err != nil {
		return Result{}, err
	}
	if o.RoINegatives < 0 || (o.RoINegatives > 0 && o.Task != TaskRoI) {
		return Result{}, fmt.Errorf("%w: roi negatives %d (a count, task %s only)", ErrOptions, o.RoINegatives, TaskRoI)
	}
	detection := a.Detection != nil
	if detection && !hasBoxes(ix) {
		return Result{}, fmt.Errorf("%w: task %s needs key-frame boxes: prepare the dataset with --boxes", ErrData, o.Task)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return Result{}, fmt.Errorf("fit: %w", err)
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return Result{}, fmt.Errorf("fit: %w", err)
	}
	data, err := filepath.Abs(o.Data)
	if err != nil {
		return Result{}, fmt.Errorf("fit: %w", err)
	}
	archJSON, err := a.JSON()
	if err != nil {
		return Result{}, fmt.Errorf("fit: %w", err)
	}
	specPath := filepath.Join(out, ArchFile)
	if err := os.WriteFile(specPath, archJSON, 0o644); err != nil {
		return Result{}, fmt.Errorf("fit: %w", err)
	}
	val := o.ValSplit
	if val == "" {
		val = "val"
	}
	if val == "-" {
		val = ""
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	args := []string{"fit", "--spec", specPath, "--data", data, "--out", out,
		"--val-split", val, "--epochs", strconv.Itoa(rec.Epochs), "--batch", strconv.Itoa(rec.Batch),
		"--lr", f(rec.LR), "--final-lr-frac", f(rec.FinalLRFrac), "--momentum", f(rec.Momentum),
		"--weight-decay", f(rec.WeightDecay), "--warmup-epochs", f(rec.WarmupEpochs),
		"--jitter-min", f(rec.JitterMin), "--jitter-max", f(rec.JitterMax),
		"--device", device, "--seed", strconv.FormatInt(rec.Seed, 10)}
	if rec.Flip {
		args = append(args, "--flip", "--flip-pairs", rec.FlipPairs)
	}
	if rec.VFlip {
		args = append(args, "--vflip", "--vflip-pairs", rec.VFlipPairs)
	}
	if rec.Reverse {
		args = append(args, "--reverse", "--reverse-pairs", rec.ReversePairs)
	}
	if rec.SingleFrame != 0 {
		args = append(args, "--single-frame", strconv.Itoa(rec.SingleFrame))
	}
	if o.Resume {
		args = append(args, "--resume")
	}
	if detection {
		args = append(args, "--task", o.Task)
		if o.Init != "" {
			init, err := filepath.Abs(o.Init)
			if err != nil {
				return Result{}, fmt.Errorf("fit: %w", err)
			}
			args = append(args, "--init", init)
		}
		if o.FreezeBackbone {
			args = append(args, "--freeze-backbone")
		}
		if o.FeatureCache != "" {
			fc, err := filepath.Abs(o.FeatureCache)
			if err != nil {
				return Result{}, fmt.Errorf("fit: %w", err)
			}
			args = append(args, "--feature-cache", fc)
		}
		if o.RoINegatives > 0 {
			args = append(args, "--roi-negatives", strconv.Itoa(o.RoINegatives))
		}
	}
	if o.ValEvery > 1 {
		args = append(args, "--val-every", strconv.Itoa(o.ValEvery))
	}
	bar := newBar(o.Bar)
	raw, err := r.Run(ctx, args, func(m python.Message) error {
		switch m.Stage {
		case "train":
			var p TrainProgress
			if json.Unmarshal(m.Raw, &p) == nil {
				bar.update(p)
			}
		case "features":
			var p struct{ Step, Total int }
			if json.Unmarshal(m.Raw, &p) == nil {
				bar.features(p.Step, p.Total)
			}
		case "epoch":
			var e Epoch
			if json.Unmarshal(m.Raw, &e) == nil {
				bar.epoch(e)
				if o.OnEpoch != nil {
					o.OnEpoch(e)
				}
			}
		}
		return nil
	})
	bar.done()
	if err != nil {
		return Result{}, err
	}
	var pr pyResult
	if err := json.Unmarshal(raw, &pr); err != nil {
		return Result{}, fmt.Errorf("%w: fit result: %w", python.ErrProtocol, err)
	}
	name := o.Name
	if name == "" {
		name = a.Name
	}
	cost := a.Cost()
	m := Metrics{
		Name: name, Arch: a.Name, Factors: a.Factors, MACs: cost.MACs, Params: cost.Params,
		Labels: ix.Labels, Data: o.Data, TrainClips: pr.TrainClips, ValClips: pr.ValClips,
		Recipe: rec, Device: pr.Device, Torch: pr.Torch, Threads: pr.Threads, Seconds: pr.Seconds,
		ClipsPerS: pr.ClipsPerS, History: pr.History, Checkpoint: pr.Checkpoint, Finished: time.Now().UTC(),
	}
	if n := len(pr.History); n > 0 {
		last := pr.History[n-1]
		m.ValTop1, m.ValTop5 = last.ValTop1, last.ValTop5
		m.PerClassVal = perClass(last.Confusion)
		m.ValMAP, m.ValAP = last.ValMAP, last.ValAP
	}
	res := Result{Dir: out, Checkpoint: pr.Checkpoint, MetricsPath: filepath.Join(out, MetricsFile),
		CurvesPath: filepath.Join(out, CurvesFile)}
	if err := WriteCurves(res.CurvesPath, name, m.History); err != nil {
		return Result{}, err
	}
	if !o.NoExport {
		trained := o.TrainedOn
		if trained == "" {
			trained = fmt.Sprintf("%s (%d train clips, %d labels), %d epochs", filepath.Base(data), pr.TrainClips, len(ix.Labels), rec.Epochs)
		}
		res.Model = filepath.Join(out, ModelFile)
		if _, err := r.Export(ctx, python.ExportOptions{
			Arch: a, Out: res.Model, Labels: ix.Labels, Name: name, Checkpoint: pr.Weights,
			TrainedOn: trained, ResizeShortSide: ix.ResizeShortSide, Mean: ix.Mean, Std: ix.Std,
		}); err != nil {
			return Result{}, fmt.Errorf("fit: export: %w", err)
		}
		m.Model = res.Model
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Result{}, fmt.Errorf("fit: %w", err)
	}
	if err := os.WriteFile(res.MetricsPath, b, 0o644); err != nil {
		return Result{}, fmt.Errorf("fit: %w", err)
	}
	res.Metrics = m
	return res, nil
}

// hasBoxes reports whether a dataset was prepared with key-frame boxes.
func hasBoxes(ix dataset.Index) bool {
	for _, sp := range ix.Splits {
		for _, it := range sp.Items {
			if it.Actors != nil {
				return true
			}
		}
	}
	return false
}

func isCUDAIndex(d string) bool {
	if len(d) < 6 || d[:5] != "cuda:" {
		return false
	}
	_, err := strconv.Atoi(d[5:])
	return err == nil
}

// perClass is each row's diagonal share (recall per true class); NaN-free: a class
// without clips gets -1.
func perClass(conf [][]int) []float64 {
	if len(conf) == 0 {
		return nil
	}
	out := make([]float64, len(conf))
	for i, row := range conf {
		n := 0
		for _, v := range row {
			n += v
		}
		if n == 0 || i >= len(row) {
			out[i] = -1
			continue
		}
		out[i] = float64(row[i]) / float64(n)
	}
	return out
}

// Pairs are the label swaps of the label-mapped augmentations.
type Pairs struct{ Flip, VFlip, Reverse string }

// SynthPairs are the swaps for the synthetic motion classes (training/synth): a
// horizontal mirror swaps left/right and the sense of rotation, a vertical one up/down
// and the rotation, and time reversal every motion with its opposite.
func SynthPairs() Pairs {
	return Pairs{
		Flip:    "move_left:move_right,rotate_cw:rotate_ccw",
		VFlip:   "move_up:move_down,rotate_cw:rotate_ccw",
		Reverse: "move_left:move_right,move_up:move_down,rotate_cw:rotate_ccw,grow:shrink",
	}
}

// For keeps the pairs whose two labels are both among labels (a dataset made with a
// subset of the classes).
func (p Pairs) For(labels []string) Pairs {
	keep := func(s string) string {
		var out []string
		for _, pr := range strings.Split(s, ",") {
			a, b, ok := strings.Cut(pr, ":")
			if ok && slices.Contains(labels, a) && slices.Contains(labels, b) {
				out = append(out, pr)
			}
		}
		return strings.Join(out, ",")
	}
	return Pairs{Flip: keep(p.Flip), VFlip: keep(p.VFlip), Reverse: keep(p.Reverse)}
}
