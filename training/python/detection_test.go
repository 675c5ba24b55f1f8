package python

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/actionstream/actionstream/clipper"
	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/detect"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/training/x3d"
)

type fixedBoxes [][]infer.ScoredBox

func (f fixedBoxes) Boxes(_ []float32, n int, _ infer.Metadata) ([][]infer.ScoredBox, error) {
	return f[:n], nil
}

// The RoI model's own RoIAlign (a PyTorch function) exports as one ONNX RoiAlign node that
// ONNX Runtime evaluates to the same per-box action scores, boxes partly outside the crop
// included; the export carries the detection contract's metadata and serving reads it.
func TestRoIExportMatchesPyTorch(t *testing.T) {
	testkit.NeedsPython(t)
	r := newRunner(t)
	ctx := testCtx(t)
	base, err := x3d.Build(x3d.Factors{Frames: 3, SamplingRate: 10, Crop: 64, Width: 0.5, Bottleneck: 1.5, Depth: 0.6}, "tiny-roi", 4)
	if err != nil {
		t.Fatal(err)
	}
	a, err := base.WithDetection(x3d.ModeRoI, 16)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const batch = 2
	clip := 3 * a.Frames * a.CropSize * a.CropSize
	input := randomClips(7, batch*clip)
	boxes := [][]detect.Box{{{0.1, 0.2, 0.5, 0.6}, {0.6, 0.05, 1.0, 0.3}}, {{0.0, 0.0, 1.0, 1.0}, {0.33, 0.41, 0.38, 0.47}, {0.8, 0.7, 1.0, 1.0}}}
	var rois []float32
	src := make(fixedBoxes, batch)
	for i, bs := range boxes {
		for _, b := range bs {
			rois = append(rois, float32(i), b[0], b[1], b[2], b[3])
			src[i] = append(src[i], infer.ScoredBox{Box: b, Score: 1})
		}
	}
	spec, err := writeJSON(dir, "arch.json", a)
	if err != nil {
		t.Fatal(err)
	}
	in, roisPath, out, ckpt := filepath.Join(dir, "x.f32"), filepath.Join(dir, "rois.f32"), filepath.Join(dir, "y.f32"), filepath.Join(dir, "w.pt")
	if err := os.WriteFile(in, float32Bytes(input), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(roisPath, float32Bytes(rois), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(ctx, []string{"forward", "--spec", spec, "--input", in, "--output", out, "--rois", roisPath,
		"--batch", strconv.Itoa(batch), "--seed", "5", "--randomize-bn", "--save-checkpoint", ckpt}, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := bytesFloat32(b)
	model := filepath.Join(dir, "roi.onnx")
	res, err := r.Export(ctx, ExportOptions{Arch: a, Out: model, Labels: []string{"a", "b", "c", "d"}, Checkpoint: ckpt, TrainedOn: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Ops, "RoiAlign") || slices.Contains(res.Ops, "BatchNormalization") {
		t.Errorf("ops %v: want RoiAlign, no BatchNormalization", res.Ops)
	}
	meta, err := infer.ReadMetadata(model)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Task != infer.TaskDetection || meta.Mode != infer.ModeRoI || meta.Score != infer.ScoreSigmoid {
		t.Errorf("metadata task %q mode %q score %q", meta.Task, meta.Mode, meta.Score)
	}
	rt, err := infer.NewRuntime(infer.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	m, err := rt.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.SetBoxSource(src)
	o, err := m.Infer(context.Background(), input, batch)
	if err != nil {
		t.Fatal(err)
	}
	scorer, err := infer.NewScorer(m.Info(), infer.DetectionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	k, worst := 0, 0.0
	for i := range batch {
		var sc infer.ScoredClip
		c := &clipper.Clip{SourceWidth: a.CropSize, SourceHeight: a.CropSize}
		if err := scorer.Score(o, i, c, &sc); err != nil {
			t.Fatal(err)
		}
		if len(sc.Actors) != len(boxes[i]) {
			t.Fatalf("clip %d: %d actors, want %d", i, len(sc.Actors), len(boxes[i]))
		}
		for _, act := range sc.Actors {
			for c, v := range act.Scores {
				worst = math.Max(worst, math.Abs(float64(v-want[k*4+c])))
			}
			k++
		}
	}
	t.Logf("ORT vs PyTorch, %d boxes: max |Δ| %.2g", k, worst)
	if k*4 != len(want) || worst > 1e-4 {
		t.Errorf("ORT differs from PyTorch by %.3g over %d boxes (torch gave %d values)", worst, k, len(want))
	}
}

// The metadata a detection export carries: task, mode, stride and the sigmoid score.
func TestDetectionMetadata(t *testing.T) {
	base, err := x3d.Build(x3d.Factors{Frames: 4, SamplingRate: 12, Crop: 64, Width: 0.5, Bottleneck: 1.5, Depth: 0.6}, "tiny", 3)
	if err != nil {
		t.Fatal(err)
	}
	a, err := base.WithDetection(x3d.ModeSingleStage, 16)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := ExportOptions{Arch: a, Labels: []string{"x", "y", "z"}}.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{infer.KeyTask: infer.TaskDetection, infer.KeyDetectionMode: infer.ModeSingleStage,
		infer.KeyDetectionStride: "8", infer.KeyScore: infer.ScoreSigmoid, infer.KeyMACs: strconv.FormatInt(a.Cost().MACs, 10)} {
		if meta[k] != v {
			t.Errorf("%s = %q, want %q", k, meta[k], v)
		}
	}
	if _, err := (ExportOptions{Arch: a, Score: infer.ScoreSoftmax}).Metadata(); err == nil {
		t.Error("a softmax detection model was accepted")
	}
	if cls, err := (ExportOptions{Arch: base}).Metadata(); err != nil || cls[infer.KeyTask] != infer.TaskClassification || cls[infer.KeyDetectionMode] != "" {
		t.Errorf("classification metadata %v, %v", cls, err)
	}
}
