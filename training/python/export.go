package python

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/training/x3d"
)

// Contract defaults for exported models (Kinetics normalisation, as X3D).
var (
	DefaultMean = [3]float32{0.45, 0.45, 0.45}
	DefaultStd  = [3]float32{0.225, 0.225, 0.225}
)

// DefaultOpset is the ONNX opset exports use (verified with torch 1.13 and ORT 1.30).
const DefaultOpset = 17

// TrainedOnRandom is the trained_on value of an export without a checkpoint.
const TrainedOnRandom = "random-init"

// ExportOptions describe one ONNX export.
type ExportOptions struct {
	Arch x3d.Arch // the network; its Cost() gives the macs/params metadata
	Out  string   // the .onnx file to write (replaced atomically)

	// Labels name the logits; len must be Arch.NumClasses. nil = "class_0", ...
	Labels []string
	// Name is the model name used in events; "" = Arch.Name.
	Name string
	// Checkpoint is a torch checkpoint (a state_dict, or a dict with "model_state")
	// whose weights are exported; "" = the reference initialisation from Seed.
	Checkpoint string
	Seed       int64
	// TrainedOn describes the weights' data; "" = "random-init" without a
	// checkpoint (required with one).
	TrainedOn string
	// ResizeShortSide is the test-time short-side resize before the centre crop;
	// 0 = ⌊8/7 × crop⌋ (X3D's test sizes: 160→182, 224→256, 312→356).
	ResizeShortSide int
	Mean, Std       [3]float32 // zero = DefaultMean / DefaultStd
	Score           string     // "" = softmax
	Opset           int        // 0 = DefaultOpset
	// FP16 stores weights and runs activations in float16; the `clip` input and `logits`
	// output stay float32 (one Cast at each end), so the model contract is unchanged.
	FP16 bool
}

// ExportResult reports what was written.
type ExportResult struct {
	Path              string   `json:"path"`
	Opset             int      `json:"opset"`
	Nodes             int      `json:"nodes"`
	Ops               []string `json:"ops"` // distinct ONNX op types in the graph
	Bytes             int64    `json:"bytes"`
	FP16              bool     `json:"fp16"`
	Params            int64    `json:"params"` // as PyTorch counted them (equal to the spec's)
	ParamsExcludingBN int64    `json:"params_excluding_bn"`
	MACs              int64    `json:"macs"`
}

// Metadata returns the model-contract metadata_props for an export.
func (o ExportOptions) Metadata() (map[string]string, error) {
	a := o.Arch
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	labels := o.Labels
	if labels == nil {
		labels = make([]string, a.NumClasses)
		for i := range labels {
			labels[i] = "class_" + strconv.Itoa(i)
		}
	}
	if len(labels) != a.NumClasses {
		return nil, fmt.Errorf("%w: %d labels for %d classes", ErrBadOptions, len(labels), a.NumClasses)
	}
	name := o.Name
	if name == "" {
		name = a.Name
	}
	if name == "" {
		return nil, fmt.Errorf("%w: no model name", ErrBadOptions)
	}
	trainedOn := o.TrainedOn
	if trainedOn == "" {
		if o.Checkpoint != "" {
			return nil, fmt.Errorf("%w: TrainedOn is required when exporting a checkpoint", ErrBadOptions)
		}
		trainedOn = TrainedOnRandom
	}
	resize := o.ResizeShortSide
	if resize == 0 {
		resize = a.CropSize * 8 / 7
	}
	if resize < a.CropSize {
		return nil, fmt.Errorf("%w: resize_short_side %d < crop %d", ErrBadOptions, resize, a.CropSize)
	}
	mean, std := o.Mean, o.Std
	if mean == ([3]float32{}) {
		mean = DefaultMean
	}
	if std == ([3]float32{}) {
		std = DefaultStd
	}
	for _, s := range std {
		if s <= 0 {
			return nil, fmt.Errorf("%w: std %v", ErrBadOptions, std)
		}
	}
	score := o.Score
	if score == "" {
		score = infer.ScoreSoftmax
		if a.Detection != nil {
			score = infer.ScoreSigmoid
		}
	}
	if a.Detection != nil && score != infer.ScoreSigmoid {
		return nil, fmt.Errorf("%w: a detection model scores with %s, not %q", ErrBadOptions, infer.ScoreSigmoid, score)
	}
	if score != infer.ScoreSoftmax && score != infer.ScoreSigmoid {
		return nil, fmt.Errorf("%w: score %q", ErrBadOptions, score)
	}
	arch, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("python: %w", err)
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	cost := a.Cost()
	task := infer.TaskClassification
	if a.Detection != nil {
		task = infer.TaskDetection
	}
	meta := map[string]string{
		infer.KeySchemaVersion:   strconv.Itoa(infer.SchemaVersion),
		infer.KeyName:            name,
		infer.KeyTask:            task,
		infer.KeyLabels:          js(labels),
		infer.KeyFrames:          strconv.Itoa(a.Frames),
		infer.KeySamplingRate:    strconv.Itoa(a.SamplingRate),
		infer.KeyCropSize:        strconv.Itoa(a.CropSize),
		infer.KeyResizeShortSide: strconv.Itoa(resize),
		infer.KeyMean:            js(mean),
		infer.KeyStd:             js(std),
		infer.KeyScore:           score,
		infer.KeyArchitecture:    string(arch),
		infer.KeyMACs:            strconv.FormatInt(cost.MACs, 10),
		infer.KeyParams:          strconv.FormatInt(cost.Params, 10),
		infer.KeyTrainedOn:       trainedOn,
	}
	if d := a.Detection; d != nil {
		meta[infer.KeyDetectionMode] = d.Mode
		meta[infer.KeyDetectionStride] = strconv.Itoa(d.Stride)
	}
	return meta, nil
}

// Export builds the network in PyTorch (from Checkpoint or the reference
// initialisation), folds BatchNorm, and writes the ONNX model with the contract's
// metadata. It fails with ErrMismatch if PyTorch's parameter count differs from
// the Go counter's.
func (r *Runner) Export(ctx context.Context, o ExportOptions) (ExportResult, error) {
	meta, err := o.Metadata()
	if err != nil {
		return ExportResult{}, err
	}
	if o.Out == "" {
		return ExportResult{}, fmt.Errorf("%w: no output path", ErrBadOptions)
	}
	opset := o.Opset
	if opset == 0 {
		opset = DefaultOpset
	}
	work, err := os.MkdirTemp("", "actionstream-export-")
	if err != nil {
		return ExportResult{}, fmt.Errorf("python: %w", err)
	}
	defer os.RemoveAll(work)
	spec, err := writeJSON(work, "arch.json", o.Arch)
	if err != nil {
		return ExportResult{}, err
	}
	metaPath, err := writeJSON(work, "meta.json", meta)
	if err != nil {
		return ExportResult{}, err
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return ExportResult{}, fmt.Errorf("python: %w", err)
	}
	args := []string{"export", "--spec", spec, "--meta", metaPath, "--out", out,
		"--seed", strconv.FormatInt(o.Seed, 10), "--opset", strconv.Itoa(opset)}
	if o.Checkpoint != "" {
		args = append(args, "--checkpoint", o.Checkpoint)
	}
	if o.FP16 {
		args = append(args, "--fp16")
	}
	raw, err := r.Run(ctx, args, nil)
	if err != nil {
		return ExportResult{}, err
	}
	var res ExportResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return ExportResult{}, fmt.Errorf("%w: export result: %w", ErrProtocol, err)
	}
	cost := o.Arch.Cost()
	res.MACs = cost.MACs
	if res.Params != cost.Params || res.ParamsExcludingBN != cost.ParamsExcludingBN {
		os.Remove(out)
		return ExportResult{}, fmt.Errorf("%w: %s: pytorch has %d params (%d without BN), the spec %d (%d)",
			ErrMismatch, o.Arch.Name, res.Params, res.ParamsExcludingBN, cost.Params, cost.ParamsExcludingBN)
	}
	return res, nil
}

// ParamCount is PyTorch's count of one built network.
type ParamCount struct {
	Name              string `json:"name"`
	Params            int64  `json:"params"`
	ParamsExcludingBN int64  `json:"params_excluding_bn"`
}

// CountParams builds each network in PyTorch (one process for all, no weight
// initialisation, no activations) and returns its parameter counts, in order.
func (r *Runner) CountParams(ctx context.Context, archs ...x3d.Arch) ([]ParamCount, error) {
	if len(archs) == 0 {
		return nil, nil
	}
	work, err := os.MkdirTemp("", "actionstream-count-")
	if err != nil {
		return nil, fmt.Errorf("python: %w", err)
	}
	defer os.RemoveAll(work)
	args := []string{"count"}
	for i, a := range archs {
		p, err := writeJSON(work, fmt.Sprintf("arch%d.json", i), a)
		if err != nil {
			return nil, err
		}
		args = append(args, "--spec", p)
	}
	raw, err := r.Run(ctx, args, nil)
	if err != nil {
		return nil, err
	}
	var res struct{ Counts []ParamCount }
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%w: count result: %w", ErrProtocol, err)
	}
	if len(res.Counts) != len(archs) {
		return nil, fmt.Errorf("%w: %d counts for %d specs", ErrProtocol, len(res.Counts), len(archs))
	}
	return res.Counts, nil
}

// ForwardOptions describe a PyTorch forward pass (the reference the ONNX model is
// checked against).
type ForwardOptions struct {
	Arch       x3d.Arch
	Checkpoint string // "" = the reference initialisation from Seed
	Seed       int64
	// RandomizeBN gives every BN measured running statistics and random γ/β before
	// the pass, so a check exercises BN folding and the residual branches (the
	// reference init zeroes each block's last γ). Used by tests.
	RandomizeBN bool
	// SaveCheckpoint, if set, receives the weights used, for a later Export.
	SaveCheckpoint string
	Input          []float32 // n clips, [n,3,T,S,S]
	Batch          int       // n
}

// Forward runs the network in eval mode in PyTorch and returns the logits [n,C].
func (r *Runner) Forward(ctx context.Context, o ForwardOptions) ([]float32, error) {
	a := o.Arch
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	clip := 3 * a.Frames * a.CropSize * a.CropSize
	if o.Batch <= 0 || len(o.Input) != o.Batch*clip {
		return nil, fmt.Errorf("%w: input has %d floats, want %d×%d", ErrBadOptions, len(o.Input), o.Batch, clip)
	}
	work, err := os.MkdirTemp("", "actionstream-forward-")
	if err != nil {
		return nil, fmt.Errorf("python: %w", err)
	}
	defer os.RemoveAll(work)
	spec, err := writeJSON(work, "arch.json", a)
	if err != nil {
		return nil, err
	}
	in, out := filepath.Join(work, "input.f32"), filepath.Join(work, "output.f32")
	if err := os.WriteFile(in, float32Bytes(o.Input), 0o644); err != nil {
		return nil, fmt.Errorf("python: %w", err)
	}
	args := []string{"forward", "--spec", spec, "--input", in, "--output", out,
		"--batch", strconv.Itoa(o.Batch), "--seed", strconv.FormatInt(o.Seed, 10)}
	if o.Checkpoint != "" {
		args = append(args, "--checkpoint", o.Checkpoint)
	}
	if o.RandomizeBN {
		args = append(args, "--randomize-bn")
	}
	if o.SaveCheckpoint != "" {
		ck, err := filepath.Abs(o.SaveCheckpoint)
		if err != nil {
			return nil, fmt.Errorf("python: %w", err)
		}
		args = append(args, "--save-checkpoint", ck)
	}
	if _, err := r.Run(ctx, args, nil); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("%w: forward output: %w", ErrProtocol, err)
	}
	y := bytesFloat32(b)
	if len(y) != o.Batch*a.NumClasses {
		return nil, fmt.Errorf("%w: forward gave %d values, want %d", ErrProtocol, len(y), o.Batch*a.NumClasses)
	}
	return y, nil
}

func writeJSON(dir, name string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("python: %s: %w", name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return "", fmt.Errorf("python: %w", err)
	}
	return p, nil
}

// ConvertFP16 writes in (a float32 model of the contract) as out with float16 weights
// and activations, the float32 `clip` input and `logits` output kept (ExportOptions.FP16
// on an existing file). Metadata is kept as is.
func (r *Runner) ConvertFP16(ctx context.Context, in, out string) error {
	absIn, err := filepath.Abs(in)
	if err != nil {
		return fmt.Errorf("python: %w", err)
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("python: %w", err)
	}
	if _, err := r.Run(ctx, []string{"fp16", "--input", absIn, "--out", absOut}, nil); err != nil {
		return err
	}
	return nil
}
