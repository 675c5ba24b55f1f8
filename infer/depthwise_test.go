package infer

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
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

func TestRewriteDepthwiseOnlyChannelWise3x3x3(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	g := dwconv.Geometry{C: 4, T: 5, H: 6, W: 6, Kernel: [3]int{3, 3, 3}, Strides: [3]int{1, 2, 2}, Pads: [6]int{1, 1, 1, 1, 1, 1}}
	model, err := DepthwiseLayerModel(g, 1, randomFloats(r, 4*27), randomFloats(r, 4))
	if err != nil {
		t.Fatal(err)
	}
	out, n, err := RewriteDepthwise(model)
	if err != nil || n != 1 {
		t.Fatalf("RewriteDepthwise: %d nodes, %v; want 1", n, err)
	}
	pm, err := parseModel(out)
	if err != nil {
		t.Fatal(err)
	}
	if pm.Opsets[dwconv.Domain] != 1 || pm.Opsets[""] != 17 {
		t.Errorf("opsets after the rewrite: %v, want the default 17 and %s 1", pm.Opsets, dwconv.Domain)
	}
	if !bytesContain(out, dwconv.OpType) {
		t.Errorf("rewritten model lacks the op type %s", dwconv.OpType)
	}

	// Not channel-wise, not 3×3×3: left to ONNX Runtime, bytes unchanged.
	for _, other := range []dwconv.Geometry{
		{C: 4, T: 5, H: 6, W: 6, Kernel: [3]int{5, 1, 1}, Strides: [3]int{1, 1, 1}, Pads: [6]int{2, 0, 0, 2, 0, 0}}, // X3D's stem
		{C: 4, T: 5, H: 6, W: 6, Kernel: [3]int{1, 3, 3}, Strides: [3]int{1, 1, 1}, Pads: [6]int{0, 1, 1, 0, 1, 1}},
	} {
		k := other.Kernel[0] * other.Kernel[1] * other.Kernel[2]
		m, err := DepthwiseLayerModel(other, 1, randomFloats(r, 4*k), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, n, err := RewriteDepthwise(m)
		if err != nil || n != 0 || string(got) != string(m) {
			t.Errorf("kernel %v: rewrote %d nodes (%v); want the model unchanged", other.Kernel, n, err)
		}
	}
	if _, _, err := RewriteDepthwise([]byte("not a model")); !errors.Is(err, ErrNotONNX) {
		t.Errorf("garbage: %v, want ErrNotONNX", err)
	}
}

func bytesContain(b []byte, s string) bool { return strings.Contains(string(b), s) }

// A depthwise_kernel the build or the CPU cannot run is refused where the user sets it.
func TestDepthwiseKernelOption(t *testing.T) {
	c := DefaultModelConfig()
	c.Path = "m.onnx"
	if c.Runtime.DepthwiseKernel != DepthwiseOwn {
		t.Errorf("default depthwise_kernel %q, want own", c.Runtime.DepthwiseKernel)
	}
	c.Runtime.DepthwiseKernel = "fast"
	err := c.Validate()
	if !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), `runtime.depthwise_kernel must be ort, own, own-portable, own-avx2 or own-avx512 (one this CPU has), not "fast"`) {
		t.Errorf("Validate: %v", err)
	}
	_, err = NewRuntime(Options{DepthwiseKernel: "own-sse9"})
	if !errors.Is(err, ErrBadOptions) || err.Error() != `bad infer options: depthwise_kernel "own-sse9", want ort, own, own-portable, own-avx2 or own-avx512` {
		t.Errorf("NewRuntime(own-sse9): %v", err)
	}
	for _, p := range dwconv.Paths() {
		_, _, err := depthwisePath(DepthwiseOwn + "-" + p.String())
		if p.Supported() != (err == nil) {
			t.Errorf("%s: supported %v, depthwisePath error %v", p, p.Supported(), err)
		}
	}
}
