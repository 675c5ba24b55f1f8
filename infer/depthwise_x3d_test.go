package infer_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/actionstream/actionstream/infer"
	"github.com/actionstream/actionstream/infer/dwconv"
	"github.com/actionstream/actionstream/training/python"
	"github.com/actionstream/actionstream/training/x3d"
)

// A whole X3D-S (exported by the trainer: random weights and random BN statistics, so every
// branch matters) gives the same logits with its 26 channel-wise convolutions on
// infer/dwconv as on ONNX Runtime's Conv, batch 1 and 3.
func TestX3DSDepthwiseSubstitution(t *testing.T) {
	if testing.Short() {
		t.Skip("exports X3D-S with PyTorch; run without -short")
	}
	ctx := context.Background()
	a, err := x3d.Preset("x3d-s", 10)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := python.New(ctx, python.Options{CacheDir: t.TempDir(), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path, ck := filepath.Join(dir, "x3d-s.onnx"), filepath.Join(dir, "ck.pt")
	if _, err := pr.Forward(ctx, python.ForwardOptions{Arch: a, Seed: 3, RandomizeBN: true, SaveCheckpoint: ck,
		Input: make([]float32, 3*13*160*160), Batch: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := pr.Export(ctx, python.ExportOptions{Arch: a, Out: path, Checkpoint: ck, TrainedOn: "random weights, random BN statistics"}); err != nil {
		t.Fatal(err)
	}
	logits := func(kernel string, batch int, in []float32) ([]float32, *infer.Model) {
		rt, err := infer.NewRuntime(infer.Options{Threads: 2, DepthwiseKernel: kernel})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close() })
		m, err := rt.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", kernel, err)
		}
		start := time.Now()
		out, err := m.Run(in, batch)
		if err != nil {
			t.Fatalf("%s: %v", kernel, err)
		}
		t.Logf("%s batch %d: %v (first call)", m.Depthwise, batch, time.Since(start))
		return out, m
	}
	for _, batch := range []int{1, 3} {
		in := make([]float32, batch*3*13*160*160)
		for i := range in {
			in[i] = float32(math.Sin(float64(i)*0.37 + float64(i/len(in)*batch)))
		}
		want, m := logits(infer.DepthwiseORT, batch, in)
		if m.Depthwise != infer.DepthwiseORT || m.DepthwiseNodes != 0 {
			t.Fatalf("ort model reports %s with %d nodes", m.Depthwise, m.DepthwiseNodes)
		}
		for _, p := range []dwconv.Path{dwconv.Portable, dwconv.Best()} {
			got, m := logits(infer.DepthwiseOwn+"-"+p.String(), batch, in)
			if m.Depthwise != infer.DepthwiseOwn+"-"+p.String() || m.DepthwiseNodes != 26 {
				t.Fatalf("%s: model reports %s with %d nodes substituted, want 26", p, m.Depthwise, m.DepthwiseNodes)
			}
			var d, scale float64
			for i := range want {
				d = max(d, math.Abs(float64(want[i]-got[i])))
				scale = max(scale, math.Abs(float64(want[i])))
			}
			t.Logf("%s batch %d: max |own - ort| %.3g (largest logit %.3g)", p, batch, d, scale)
			if d > 1e-4 {
				t.Errorf("%s batch %d: max |own - ort| = %.3g (largest logit %.3g), want <= 1e-4", p, batch, d, scale)
			}
		}
		// The comparison means something only if the logits do: large, and varying.
		var spread float64
		for i := range want {
			spread = max(spread, math.Abs(float64(want[i]-want[0])))
		}
		if spread < 0.01 {
			t.Fatalf("batch %d: logits vary by %.3g only: the network is degenerate, the test proves nothing", batch, spread)
		}
	}
}
