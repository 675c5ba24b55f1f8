package infer

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// Tensor names fixed by the model contract (docs/MODEL_CONTRACT.md).
const (
	InputName  = "clip"
	OutputName = "logits"

	// Detection models (docs/MODEL_CONTRACT.md, "Detection models").
	InputRoIs     = "rois"    // RoI mode: [K,5] (batch index, x1, y1, x2, y2 as fractions of S)
	OutputHeatmap = "heatmap" // single-stage: [N,1,G,G]
	OutputSize    = "size"    // single-stage: [N,2,G,G]
	OutputOffset  = "offset"  // single-stage: [N,2,G,G]
	OutputActions = "actions" // single-stage: [N,C,G,G]; RoI mode: [K,C]
)

// SchemaVersion is the model contract version this package implements.
const SchemaVersion = 1

// Metadata keys (docs/MODEL_CONTRACT.md). Every value is a string.
const (
	KeySchemaVersion   = "actionstream.schema_version"
	KeyName            = "actionstream.name"
	KeyTask            = "actionstream.task"
	KeyLabels          = "actionstream.labels"
	KeyFrames          = "actionstream.frames"
	KeySamplingRate    = "actionstream.sampling_rate"
	KeyCropSize        = "actionstream.crop_size"
	KeyResizeShortSide = "actionstream.resize_short_side"
	KeyMean            = "actionstream.mean"
	KeyStd             = "actionstream.std"
	KeyScore           = "actionstream.score"
	KeyArchitecture    = "actionstream.architecture"
	KeyMACs            = "actionstream.macs"
	KeyParams          = "actionstream.params"
	KeyTrainedOn       = "actionstream.trained_on"
	KeyDetectionMode   = "actionstream.detection.mode"
	KeyDetectionStride = "actionstream.detection.stride"
)

// Tasks and score functions the contract knows.
const (
	TaskClassification = "classification"
	TaskDetection      = "detection"
	ScoreSoftmax       = "softmax"
	ScoreSigmoid       = "sigmoid"

	// Detection modes (KeyDetectionMode).
	ModeSingleStage = "single_stage" // heatmap, size, offset and actions heads
	ModeRoI         = "roi"          // actions per box of the `rois` input
)

// Metadata is a model's self-description, read from the ONNX file's metadata_props.
// Architecture, MACs, Params and TrainedOn are informational and may be absent
// (zero values); everything else is required to serve the model.
type Metadata struct {
	SchemaVersion   int
	Name, Task      string
	Labels          []string
	Frames          int // T
	SamplingRate    int // τ, counted at 30 fps
	CropSize        int // S
	ResizeShortSide int
	Mean, Std       [3]float32
	Score           string // ScoreSoftmax or ScoreSigmoid
	Architecture    json.RawMessage
	MACs, Params    int64
	TrainedOn       string
	// Detection models only: Mode is ModeSingleStage or ModeRoI; Stride the single-stage grid's
	// cell size in crop pixels (CropSize = Grid()*Stride).
	Mode   string
	Stride int
}

// IsDetection reports whether the model localises actors (task detection).
func (m Metadata) IsDetection() bool { return m.Task == TaskDetection }

// Grid is G, the single-stage heads' side: CropSize/Stride (0 for other models).
func (m Metadata) Grid() int {
	if m.Mode != ModeSingleStage || m.Stride <= 0 {
		return 0
	}
	return m.CropSize / m.Stride
}

// Upper bounds on the sizes a model file declares. Clips and batches are allocated from them, so a
// corrupt or hostile file must not make the server ask for gigabytes (or overflow ClipLen). They
// are far above any X3D variant (16 frames, 356 px).
const (
	maxFrames       = 1024
	maxSamplingRate = 1024
	maxSide         = 4096    // crop_size and resize_short_side, pixels
	maxClipValues   = 1 << 26 // 3*T*S*S float32 values: 256 MiB
	maxFixedBatch   = 1024
	maxBatchValues  = 1 << 28 // a fixed batch's input: 1 GiB
)

// ClipLen is the number of float32 values in one clip: 3*T*S*S.
func (m Metadata) ClipLen() int { return 3 * m.Frames * m.CropSize * m.CropSize }

// ModelFile is everything read from a model file without ONNX Runtime.
type modelFile struct {
	meta       Metadata
	fixedBatch int64 // >0 when the clip input has a fixed N
	classes    int
}

// ReadMetadata reads and validates a model file's metadata and its `clip` input and
// `logits` output in pure Go; ONNX Runtime is not needed. Errors wrap ErrNotONNX,
// ErrNoMetadata, ErrBadMetadata, ErrSchemaVersion, ErrBadInput or ErrBadOutput and
// name the file and the fault.
func ReadMetadata(path string) (Metadata, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Metadata{}, fmt.Errorf("infer: read model: %w", err)
	}
	mf, err := inspect(path, b)
	if err != nil {
		return Metadata{}, err
	}
	return mf.meta, nil
}

// inspect parses and validates the model bytes of path.
func inspect(path string, b []byte) (*modelFile, error) {
	pm, err := parseModel(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrNotONNX, err)
	}
	if pm.IRVersion <= 0 {
		return nil, fmt.Errorf("%s: %w: no ir_version (not a ModelProto)", path, ErrNotONNX)
	}
	if !pm.HasGraph {
		return nil, fmt.Errorf("%s: %w: ModelProto has no graph", path, ErrNotONNX)
	}
	meta, err := parseMetadata(pm.Props)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	mf := &modelFile{meta: meta}
	if err := checkInput(pm, meta, mf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkOutput(pm, meta, mf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return mf, nil
}

func parseMetadata(p map[string]string) (Metadata, error) {
	var m Metadata
	// The version decides how to read the rest, so it is checked first.
	v, err := reqInt(p, KeySchemaVersion)
	if err != nil {
		return m, err
	}
	if v != SchemaVersion {
		return m, fmt.Errorf("%w: %s is %d, this build reads version %d", ErrSchemaVersion, KeySchemaVersion, v, SchemaVersion)
	}
	m.SchemaVersion = v

	if m.Name, err = reqString(p, KeyName); err != nil {
		return m, err
	}
	if m.Task, err = reqString(p, KeyTask); err != nil {
		return m, err
	}
	if m.Task != TaskClassification && m.Task != TaskDetection {
		return m, fmt.Errorf("%w: %s is %q, want %q or %q", ErrBadMetadata, KeyTask, m.Task, TaskClassification, TaskDetection)
	}
	s, err := reqString(p, KeyLabels)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal([]byte(s), &m.Labels); err != nil {
		return m, fmt.Errorf("%w: %s is not a JSON array of strings: %v", ErrBadMetadata, KeyLabels, err)
	}
	if len(m.Labels) == 0 {
		return m, fmt.Errorf("%w: %s is empty", ErrBadMetadata, KeyLabels)
	}
	for i, l := range m.Labels {
		if strings.TrimSpace(l) == "" {
			return m, fmt.Errorf("%w: %s[%d] is blank", ErrBadMetadata, KeyLabels, i)
		}
	}
	for _, kv := range []struct {
		key string
		dst *int
		max int
	}{
		{KeyFrames, &m.Frames, maxFrames}, {KeySamplingRate, &m.SamplingRate, maxSamplingRate},
		{KeyCropSize, &m.CropSize, maxSide}, {KeyResizeShortSide, &m.ResizeShortSide, maxSide},
	} {
		n, err := reqInt(p, kv.key)
		if err != nil {
			return m, err
		}
		if n <= 0 || n > kv.max {
			return m, fmt.Errorf("%w: %s is %d, want 1..%d", ErrBadMetadata, kv.key, n, kv.max)
		}
		*kv.dst = n
	}
	if m.ResizeShortSide < m.CropSize {
		return m, fmt.Errorf("%w: %s %d is smaller than %s %d", ErrBadMetadata, KeyResizeShortSide, m.ResizeShortSide, KeyCropSize, m.CropSize)
	}
	if n := m.ClipLen(); n > maxClipValues {
		return m, fmt.Errorf("%w: a clip of %s %d and %s %d is %d values, over the limit of %d",
			ErrBadMetadata, KeyFrames, m.Frames, KeyCropSize, m.CropSize, n, maxClipValues)
	}
	if m.Mean, err = reqTriple(p, KeyMean); err != nil {
		return m, err
	}
	if m.Std, err = reqTriple(p, KeyStd); err != nil {
		return m, err
	}
	for i, sd := range m.Std {
		if !(sd > 0) {
			return m, fmt.Errorf("%w: %s[%d] is %v, want > 0", ErrBadMetadata, KeyStd, i, sd)
		}
	}
	if m.Score, err = reqString(p, KeyScore); err != nil {
		return m, err
	}
	if m.Score != ScoreSoftmax && m.Score != ScoreSigmoid {
		return m, fmt.Errorf("%w: %s is %q, want %q or %q", ErrBadMetadata, KeyScore, m.Score, ScoreSoftmax, ScoreSigmoid)
	}

	if m.IsDetection() {
		if err := parseDetection(p, &m); err != nil {
			return m, err
		}
	}

	// Informational keys.
	if a, ok := p[KeyArchitecture]; ok && strings.TrimSpace(a) != "" {
		if !json.Valid([]byte(a)) {
			return m, fmt.Errorf("%w: %s is not valid JSON", ErrBadMetadata, KeyArchitecture)
		}
		m.Architecture = json.RawMessage(a)
	}
	for _, kv := range []struct {
		key string
		dst *int64
	}{{KeyMACs, &m.MACs}, {KeyParams, &m.Params}} {
		if s, ok := p[kv.key]; ok {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil || n < 0 {
				return m, fmt.Errorf("%w: %s is %q, want a non-negative integer", ErrBadMetadata, kv.key, s)
			}
			*kv.dst = n
		}
	}
	m.TrainedOn = p[KeyTrainedOn]
	return m, nil
}

// parseDetection reads the detection keys: the mode, the single-stage stride, and a sigmoid score
// (several actions per actor may hold at once).
func parseDetection(p map[string]string, m *Metadata) error {
	var err error
	if m.Mode, err = reqString(p, KeyDetectionMode); err != nil {
		return err
	}
	switch m.Mode {
	case ModeSingleStage:
		if m.Stride, err = reqInt(p, KeyDetectionStride); err != nil {
			return err
		}
		if m.Stride <= 0 || m.CropSize%m.Stride != 0 {
			return fmt.Errorf("%w: %s is %d, want a positive divisor of %s %d", ErrBadMetadata, KeyDetectionStride, m.Stride, KeyCropSize, m.CropSize)
		}
	case ModeRoI:
	default:
		return fmt.Errorf("%w: %s is %q, want %q or %q", ErrBadMetadata, KeyDetectionMode, m.Mode, ModeSingleStage, ModeRoI)
	}
	if m.Score != ScoreSigmoid {
		return fmt.Errorf("%w: %s is %q, a detection model's must be %q (its outputs are probabilities, several actions per actor)",
			ErrBadMetadata, KeyScore, m.Score, ScoreSigmoid)
	}
	return nil
}

func reqString(p map[string]string, key string) (string, error) {
	s, ok := p[key]
	if !ok {
		return "", fmt.Errorf("%w: key %s is absent", ErrNoMetadata, key)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: key %s is empty", ErrNoMetadata, key)
	}
	return s, nil
}

func reqInt(p map[string]string, key string) (int, error) {
	s, err := reqString(p, key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s is %q, want an integer", ErrBadMetadata, key, s)
	}
	return n, nil
}

func reqTriple(p map[string]string, key string) ([3]float32, error) {
	var out [3]float32
	s, err := reqString(p, key)
	if err != nil {
		return out, err
	}
	var v []float64
	if err := json.Unmarshal([]byte(s), &v); err != nil || len(v) != 3 {
		return out, fmt.Errorf("%w: %s is %q, want a JSON array of 3 numbers", ErrBadMetadata, key, s)
	}
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return out, fmt.Errorf("%w: %s[%d] is not finite", ErrBadMetadata, key, i)
		}
		out[i] = float32(x)
	}
	return out, nil
}

func findValue(vs []valueInfo, name string) (valueInfo, bool) {
	for _, v := range vs {
		if v.Name == name {
			return v, true
		}
	}
	return valueInfo{}, false
}

func names(vs []valueInfo) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.Name
	}
	return "[" + strings.Join(s, " ") + "]"
}

func shapeString(ds []dim) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return "[" + strings.Join(s, ",") + "]"
}

// checkInput verifies the `clip` input: float32, rank 5, [N,3,T,S,S]. Symbolic
// dims are accepted (the runtime feeds the metadata's sizes); fixed ones must agree. An RoI
// detection model also has the `rois` input, float32 [K,5].
func checkInput(pm *protoModel, m Metadata, mf *modelFile) error {
	in, ok := findValue(pm.Inputs, InputName)
	if !ok {
		return fmt.Errorf("%w: no input named %q (inputs: %s)", ErrBadInput, InputName, names(pm.Inputs))
	}
	wantInputs := []string{InputName}
	if m.Mode == ModeRoI {
		wantInputs = append(wantInputs, InputRoIs)
	}
	if len(pm.Inputs) != len(wantInputs) {
		return fmt.Errorf("%w: want exactly the inputs %v, model has %s", ErrBadInput, wantInputs, names(pm.Inputs))
	}
	if !in.IsTensor || in.ElemType != onnxFloat {
		return fmt.Errorf("%w: input %q has element type %d, want float32 (1)", ErrBadInput, InputName, in.ElemType)
	}
	if !in.HasShape || len(in.Dims) != 5 {
		return fmt.Errorf("%w: input %q has rank %d %s, want rank 5 [N,3,T,S,S]", ErrBadInput, InputName, len(in.Dims), shapeString(in.Dims))
	}
	want := []int{0, 3, m.Frames, m.CropSize, m.CropSize}
	what := []string{"N", "channels", "T (" + KeyFrames + ")", "S (" + KeyCropSize + ")", "S (" + KeyCropSize + ")"}
	for i := 1; i < 5; i++ {
		if d := in.Dims[i]; d.Fixed && d.Value != int64(want[i]) {
			return fmt.Errorf("%w: input %q shape %s: dim %d (%s) is %d, metadata says %d",
				ErrBadInput, InputName, shapeString(in.Dims), i, what[i], d.Value, want[i])
		}
	}
	if d := in.Dims[0]; d.Fixed && d.Value > 0 {
		if m.Mode == ModeRoI {
			// The rois of a batch index into N: a fixed N would need padding clips.
			return fmt.Errorf("%w: input %q has a fixed batch of %d; an RoI model needs a dynamic N", ErrBadInput, InputName, d.Value)
		}
		if d.Value > maxFixedBatch || d.Value*int64(m.ClipLen()) > maxBatchValues {
			return fmt.Errorf("%w: input %q has a fixed batch of %d clips of %d values, over the limit (%d clips, %d values)",
				ErrBadInput, InputName, d.Value, m.ClipLen(), maxFixedBatch, maxBatchValues)
		}
		mf.fixedBatch = d.Value
	}
	if m.Mode == ModeRoI {
		r, ok := findValue(pm.Inputs, InputRoIs)
		if !ok {
			return fmt.Errorf("%w: an RoI model needs an input named %q (inputs: %s)", ErrBadInput, InputRoIs, names(pm.Inputs))
		}
		if !r.IsTensor || r.ElemType != onnxFloat || !r.HasShape || len(r.Dims) != 2 || (r.Dims[1].Fixed && r.Dims[1].Value != 5) {
			return fmt.Errorf("%w: input %q is type %d shape %s, want float32 [K,5]", ErrBadInput, InputRoIs, r.ElemType, shapeString(r.Dims))
		}
	}
	return nil
}

// outputSpec is one output the contract requires: its name and its dims after the batch axis
// (0 = any).
type outputSpec struct {
	name string
	dims []int
}

// outputSpecs are the outputs a model of m's task and mode must have, in session order.
func outputSpecs(m Metadata) []outputSpec {
	c, g := len(m.Labels), m.Grid()
	switch {
	case m.Mode == ModeSingleStage:
		return []outputSpec{{OutputHeatmap, []int{1, g, g}}, {OutputSize, []int{2, g, g}},
			{OutputOffset, []int{2, g, g}}, {OutputActions, []int{c, g, g}}}
	case m.Mode == ModeRoI:
		return []outputSpec{{OutputActions, []int{c}}}
	}
	return []outputSpec{{OutputName, []int{c}}}
}

// outputNames are the names of outputSpecs.
func outputNames(m Metadata) []string {
	var out []string
	for _, o := range outputSpecs(m) {
		out = append(out, o.name)
	}
	return out
}

// inputNames are the inputs a model of m's mode takes, in session order.
func inputNames(m Metadata) []string {
	if m.Mode == ModeRoI {
		return []string{InputName, InputRoIs}
	}
	return []string{InputName}
}

// checkOutput verifies the outputs: `logits` float32 [N,C] with C = len(labels) when fixed for a
// classifier; the heads of docs/MODEL_CONTRACT.md for a detection model.
func checkOutput(pm *protoModel, m Metadata, mf *modelFile) error {
	for _, spec := range outputSpecs(m) {
		out, ok := findValue(pm.Outputs, spec.name)
		if !ok {
			return fmt.Errorf("%w: no output named %q (outputs: %s)", ErrBadOutput, spec.name, names(pm.Outputs))
		}
		if !out.IsTensor || out.ElemType != onnxFloat {
			return fmt.Errorf("%w: output %q has element type %d, want float32 (1)", ErrBadOutput, spec.name, out.ElemType)
		}
		if !out.HasShape {
			continue
		}
		if len(out.Dims) != 1+len(spec.dims) {
			return fmt.Errorf("%w: output %q has rank %d %s, want rank %d", ErrBadOutput, spec.name, len(out.Dims), shapeString(out.Dims), 1+len(spec.dims))
		}
		for i, want := range spec.dims {
			d := out.Dims[i+1]
			if !d.Fixed || want <= 0 || d.Value == int64(want) {
				continue
			}
			if i == 0 && (spec.name == OutputName || spec.name == OutputActions) {
				return fmt.Errorf("%w: output %q has %d classes, %s has %d labels", ErrBadOutput, spec.name, d.Value, KeyLabels, len(m.Labels))
			}
			what := fmt.Sprintf("%d channels", want)
			if i > 0 {
				what = fmt.Sprintf("the grid side %d (%s / %s)", want, KeyCropSize, KeyDetectionStride)
			}
			return fmt.Errorf("%w: output %q shape %s: dim %d is %d, want %s", ErrBadOutput, spec.name, shapeString(out.Dims), i+1, d.Value, what)
		}
	}
	mf.classes = len(m.Labels)
	return nil
}
