package infer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/actionstream/actionstream/infer/dwconv"
)

// x3dSDepthwise are the channel-wise 3×3×3 layer shapes of X3D-S (crop 160, 13 frames):
// each stage's first block (spatial stride 2) and the others.
func x3dSDepthwise() []dwconv.Geometry {
	var gs []dwconv.Geometry
	for _, l := range []struct{ c, hw, s int }{{54, 80, 2}, {54, 40, 1}, {108, 40, 2}, {108, 20, 1}, {216, 20, 2}, {216, 10, 1}, {432, 10, 2}, {432, 5, 1}} {
		gs = append(gs, dwconv.Geometry{C: l.c, T: 13, H: l.hw, W: l.hw, Kernel: [3]int{3, 3, 3}, Strides: [3]int{1, l.s, l.s}, Pads: [6]int{1, 1, 1, 1, 1, 1}})
	}
	return gs
}

func randomFloats(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// runLayer runs the one-node model of g in ONNX Runtime with the given depthwise kernel.
func runLayer(t *testing.T, kernel string, g dwconv.Geometry, batch int, x, w, b []float32) ([]float32, string) {
	t.Helper()
	rt, err := NewRuntime(Options{Threads: 2, DepthwiseKernel: kernel})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	model, err := DepthwiseLayerModel(g, batch, w, b)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := g.Output()
	s, err := rt.OpenLayer(model, []int64{int64(batch), int64(g.C), int64(g.T), int64(g.H), int64(g.W)}, []int64{int64(batch), int64(g.C), int64(o[0]), int64(o[1]), int64(o[2])})
	if err != nil {
		t.Fatalf("%s: %v", kernel, err)
	}
	defer s.Close()
	y := make([]float32, batch*g.C*o[0]*o[1]*o[2])
	if err := s.Run(x, y); err != nil {
		t.Fatalf("%s: %v", kernel, err)
	}
	return y, s.Depthwise
}

// The custom op inside ONNX Runtime equals ONNX Runtime's Conv on every X3D-S layer shape,
// on each path this CPU has, with and without bias, batch 1 and 2.
func TestDepthwiseOpMatchesORTConv(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i, g := range x3dSDepthwise() {
		batch := 1 + i%2
		x, w, b := randomFloats(r, batch*g.C*g.T*g.H*g.W), randomFloats(r, g.C*27), randomFloats(r, g.C)
		if i%3 == 1 {
			b = nil
		}
		want, kernel := runLayer(t, DepthwiseORT, g, batch, x, w, b)
		if kernel != DepthwiseORT {
			t.Fatalf("ort session reports kernel %q", kernel)
		}
		for _, p := range dwconv.Paths() {
			if !p.Supported() {
				continue
			}
			got, kernel := runLayer(t, DepthwiseOwn+"-"+p.String(), g, batch, x, w, b)
			if kernel != DepthwiseOwn+"-"+p.String() {
				t.Fatalf("%s: session reports kernel %q: not substituted", p, kernel)
			}
			var d float64
			for j := range want {
				d = max(d, math.Abs(float64(want[j]-got[j])))
			}
			t.Logf("%s c%d %dx%d s%d batch %d: max diff %.3g", p, g.C, g.H, g.W, g.Strides[1], batch, d)
			if d > 1e-4 {
				t.Errorf("%s %+v batch %d: max |own - ort| = %.3g > 1e-4", p, g, batch, d)
			}
		}
	}
}
