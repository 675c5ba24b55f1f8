package python

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/training/x3d"
)

// Export with FP16: float32 clip/logits at the boundary, float16 weights (half the file),
// logits close to PyTorch's float32 forward relative to their scale, same arg-max.
func TestExportFP16MatchesPyTorch(t *testing.T) {
	testkit.NeedsPython(t)
	r := newRunner(t)
	a, err := x3d.Build(x3d.Factors{Frames: 3, SamplingRate: 10, Crop: 32, Width: 0.5, Bottleneck: 1.5, Depth: 0.6}, "tiny", 5)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := infer.NewRuntime(infer.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	ctx := testCtx(t)
	dir := t.TempDir()
	const batch = 4
	clip := 3 * a.Frames * a.CropSize * a.CropSize
	input := randomClips(7, batch*clip)
	ckpt := filepath.Join(dir, "w.pt")
	want, err := r.Forward(ctx, ForwardOptions{Arch: a, Seed: 5, RandomizeBN: true, SaveCheckpoint: ckpt, Input: input, Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[bool]int64{}
	for _, fp16 := range []bool{false, true} {
		out := filepath.Join(dir, map[bool]string{false: "m32.onnx", true: "m16.onnx"}[fp16])
		res, err := r.Export(ctx, ExportOptions{Arch: a, Out: out, Checkpoint: ckpt, TrainedOn: "test weights", FP16: fp16})
		if err != nil {
			t.Fatalf("Export fp16=%v: %v", fp16, err)
		}
		if res.FP16 != fp16 {
			t.Errorf("result fp16 %v, want %v", res.FP16, fp16)
		}
		st, _ := os.Stat(out)
		sizes[fp16] = st.Size()
		m, err := rt.Open(out)
		if err != nil {
			t.Fatalf("fp16=%v: %v", fp16, err)
		}
		got, err := m.Run(input, batch)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		var maxDiff, maxAbs float64
		for i := range got {
			maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
			maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
		}
		tol := 1e-4
		if fp16 {
			tol = 2e-2 * maxAbs // float16 keeps ~3 significant digits
		}
		t.Logf("fp16=%v: max |onnx - pytorch fp32| = %.3g (max |logit| %.3g)", fp16, maxDiff, maxAbs)
		if maxDiff > tol || maxAbs < 1e-3 {
			t.Errorf("fp16=%v: max difference %.3g > %.3g (max |logit| %.3g)", fp16, maxDiff, tol, maxAbs)
		}
		if fp16 {
			for n := range batch {
				if argmax(got[n*5:(n+1)*5]) != argmax(want[n*5:(n+1)*5]) {
					t.Errorf("clip %d: fp16 top-1 differs", n)
				}
			}
		}
	}
	if r := float64(sizes[true]) / float64(sizes[false]); r > 0.6 {
		t.Errorf("fp16 file is %.2f of fp32's: weights not in float16", r)
	}
}

func argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}
