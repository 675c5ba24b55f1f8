package eval

import (
	"encoding/json"
	"fmt"
	"strconv"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/training/python"
)

// detModel is a detection model of the contract run by ONNX Runtime: the single-stage
// outputs for a batch of clips, or the RoI actions for a batch of clips and boxes.
type detModel struct {
	meta   infer.Metadata
	mode   string
	stride int
	sess   *ort.DynamicAdvancedSession
}

// openDetection reads a detection model's metadata and opens a session on rt's ONNX
// Runtime environment.
func openDetection(rt *infer.Runtime, path string, threads int) (*detModel, error) {
	md, err := ort.GetModelMetadata(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrOptions, path, err)
	}
	defer md.Destroy()
	get := func(k string) (string, error) {
		v, ok, err := md.LookupCustomMetadataMap(k)
		if err != nil || !ok {
			return "", fmt.Errorf("%w: %s: metadata %s missing (%v)", ErrOptions, path, k, err)
		}
		return v, nil
	}
	m := &detModel{}
	task, err := get(infer.KeyTask)
	if err != nil {
		return nil, err
	}
	if task != python.TaskDetection {
		return nil, fmt.Errorf("%w: %s is a %s model, not %s", ErrOptions, path, task, python.TaskDetection)
	}
	m.meta.Task = task
	ints := map[string]*int{infer.KeyFrames: &m.meta.Frames, infer.KeySamplingRate: &m.meta.SamplingRate,
		infer.KeyCropSize: &m.meta.CropSize, infer.KeyResizeShortSide: &m.meta.ResizeShortSide,
		python.KeyDetectionStride: &m.stride}
	for k, p := range ints {
		s, err := get(k)
		if err != nil {
			return nil, err
		}
		if *p, err = strconv.Atoi(s); err != nil || *p <= 0 {
			return nil, fmt.Errorf("%w: %s: %s = %q", ErrOptions, path, k, s)
		}
	}
	if m.mode, err = get(python.KeyDetectionMode); err != nil {
		return nil, err
	}
	if m.mode != "single_stage" && m.mode != "roi" {
		return nil, fmt.Errorf("%w: %s: detection mode %q", ErrOptions, path, m.mode)
	}
	if m.meta.CropSize%m.stride != 0 {
		return nil, fmt.Errorf("%w: %s: crop %d is not a multiple of stride %d", ErrOptions, path, m.meta.CropSize, m.stride)
	}
	for k, p := range map[string]any{infer.KeyLabels: &m.meta.Labels, infer.KeyMean: &m.meta.Mean, infer.KeyStd: &m.meta.Std} {
		s, err := get(k)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(s), p); err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %w", ErrOptions, path, k, err)
		}
	}
	if len(m.meta.Labels) == 0 {
		return nil, fmt.Errorf("%w: %s: no labels", ErrOptions, path)
	}
	if m.meta.Name, err = get(infer.KeyName); err != nil {
		return nil, err
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer so.Destroy()
	if threads > 0 {
		if err := so.SetIntraOpNumThreads(threads); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
	}
	in, out := []string{infer.InputName}, []string{"heatmap", "size", "offset", "actions"}
	if m.mode == "roi" {
		in, out = []string{infer.InputName, "rois"}, []string{"actions"}
	}
	if m.sess, err = ort.NewDynamicAdvancedSession(path, in, out, so); err != nil {
		return nil, fmt.Errorf("eval: %s: %w", path, err)
	}
	_ = rt // the environment's owner; it must outlive the session
	return m, nil
}

func (m *detModel) grid() int { return m.meta.CropSize / m.stride }

func (m *detModel) clipShape(n int) ort.Shape {
	s := int64(m.meta.CropSize)
	return ort.NewShape(int64(n), 3, int64(m.meta.Frames), s, s)
}

// runSingleStage returns the four outputs of n clips, row-major [N,...].
func (m *detModel) runSingleStage(x []float32, n int) (heat, size, off, act []float32, err error) {
	g, c := int64(m.grid()), int64(len(m.meta.Labels))
	in, err := ort.NewTensor(m.clipShape(n), x)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("eval: %w", err)
	}
	defer in.Destroy()
	shapes := []ort.Shape{ort.NewShape(int64(n), 1, g, g), ort.NewShape(int64(n), 2, g, g),
		ort.NewShape(int64(n), 2, g, g), ort.NewShape(int64(n), c, g, g)}
	outs := make([]*ort.Tensor[float32], 4)
	vals := make([]ort.Value, 4)
	for i, s := range shapes {
		if outs[i], err = ort.NewEmptyTensor[float32](s); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("eval: %w", err)
		}
		defer outs[i].Destroy()
		vals[i] = outs[i]
	}
	if err := m.sess.Run([]ort.Value{in}, vals); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("eval: run: %w", err)
	}
	cp := func(t *ort.Tensor[float32]) []float32 { return append([]float32(nil), t.GetData()...) }
	return cp(outs[0]), cp(outs[1]), cp(outs[2]), cp(outs[3]), nil
}

// runRoI returns the actions [K,C] of rois [K,5] (batch index, x1, y1, x2, y2 in crop fractions).
func (m *detModel) runRoI(x []float32, n int, rois []float32) ([]float32, error) {
	k := len(rois) / 5
	in, err := ort.NewTensor(m.clipShape(n), x)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer in.Destroy()
	r, err := ort.NewTensor(ort.NewShape(int64(k), 5), rois)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer r.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(k), int64(len(m.meta.Labels))))
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	defer out.Destroy()
	if err := m.sess.Run([]ort.Value{in, r}, []ort.Value{out}); err != nil {
		return nil, fmt.Errorf("eval: run: %w", err)
	}
	return append([]float32(nil), out.GetData()...), nil
}

func (m *detModel) Close() {
	if m.sess != nil {
		m.sess.Destroy()
	}
}
