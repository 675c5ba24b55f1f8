package dwconv

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// reference is the textbook loop: y[n,c,t,h,w] = b[c] + Σ w[c,kt,kh,kw]·x[n,c,t·st+kt-pt, ...].
func reference(g Geometry, n int, x, w, b []float32) []float32 {
	o, err := g.Output()
	if err != nil {
		panic(err)
	}
	k := g.Kernel
	y := make([]float32, n*g.C*o[0]*o[1]*o[2])
	i := 0
	for v := range n * g.C {
		c := v % g.C
		for t := range o[0] {
			for h := range o[1] {
				for ww := range o[2] {
					var acc float64
					if b != nil {
						acc = float64(b[c])
					}
					for dt := range k[0] {
						for dh := range k[1] {
							for dw := range k[2] {
								it, ih, iw := t*g.Strides[0]+dt-g.Pads[0], h*g.Strides[1]+dh-g.Pads[1], ww*g.Strides[2]+dw-g.Pads[2]
								if it < 0 || it >= g.T || ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
									continue
								}
								acc += float64(w[((c*k[0]+dt)*k[1]+dh)*k[2]+dw]) * float64(x[((v*g.T+it)*g.H+ih)*g.W+iw])
							}
						}
					}
					y[i] = float32(acc)
					i++
				}
			}
		}
	}
	return y
}

func random(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

func maxDiff(a, b []float32) float64 {
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

// x3dS are the channel-wise 3×3×3 layers of X3D-S at crop 160, T 13 (one per distinct shape).
func x3dS() []Geometry {
	var gs []Geometry
	for _, l := range []struct{ c, hw, s int }{{54, 80, 2}, {54, 40, 1}, {108, 40, 2}, {108, 20, 1}, {216, 20, 2}, {216, 10, 1}, {432, 10, 2}, {432, 5, 1}} {
		gs = append(gs, Geometry{C: l.c, T: 13, H: l.hw, W: l.hw, Kernel: [3]int{3, 3, 3}, Strides: [3]int{1, l.s, l.s}, Pads: [6]int{1, 1, 1, 1, 1, 1}})
	}
	return gs
}

func TestConvMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	odd := []Geometry{
		{C: 3, T: 4, H: 7, W: 9, Kernel: [3]int{3, 3, 3}, Strides: [3]int{1, 1, 1}, Pads: [6]int{1, 1, 1, 1, 1, 1}},
		{C: 2, T: 5, H: 9, W: 11, Kernel: [3]int{3, 3, 3}, Strides: [3]int{2, 2, 2}, Pads: [6]int{1, 1, 1, 1, 1, 1}},
		{C: 2, T: 6, H: 8, W: 13, Kernel: [3]int{3, 3, 3}, Strides: [3]int{1, 3, 2}, Pads: [6]int{0, 1, 2, 2, 0, 1}},
		{C: 4, T: 13, H: 3, W: 3, Kernel: [3]int{5, 1, 1}, Strides: [3]int{1, 1, 1}, Pads: [6]int{2, 0, 0, 2, 0, 0}},
		{C: 1, T: 1, H: 1, W: 300, Kernel: [3]int{1, 1, 3}, Strides: [3]int{1, 1, 2}, Pads: [6]int{0, 0, 1, 0, 0, 1}},
	}
	cases := append(odd, x3dS()...)
	for _, p := range Paths() {
		if !p.Supported() {
			t.Logf("%s: not supported on this CPU, skipped", p)
			continue
		}
		for i, g := range cases {
			n := 1 + i%2
			o, err := g.Output()
			if err != nil {
				t.Fatal(err)
			}
			ntap := g.Kernel[0] * g.Kernel[1] * g.Kernel[2]
			x, w, b := random(r, n*g.C*g.T*g.H*g.W), random(r, g.C*ntap), random(r, g.C)
			if i%3 == 2 {
				b = nil
			}
			y := make([]float32, n*g.C*o[0]*o[1]*o[2])
			if err := Conv(p, g, n, x, w, b, y, 2); err != nil {
				t.Fatalf("%s %+v: %v", p, g, err)
			}
			if d := maxDiff(y, reference(g, n, x, w, b)); d > 1e-5 {
				t.Errorf("%s %+v: max |diff| %.3g > 1e-5", p, g, d)
			}
		}
	}
}

func TestConvRejectsBadInput(t *testing.T) {
	g := Geometry{C: 2, T: 3, H: 4, W: 4, Kernel: [3]int{3, 3, 3}, Strides: [3]int{1, 1, 1}, Pads: [6]int{1, 1, 1, 1, 1, 1}}
	x, w, y := make([]float32, 2*3*16), make([]float32, 2*27), make([]float32, 2*3*16)
	for _, tc := range []struct {
		name string
		g    Geometry
		x, y []float32
		want string
	}{
		{"short x", g, x[:5], y, "dwconv: bad geometry: x has 5 floats, want 96"},
		{"zero stride", Geometry{C: 2, T: 3, H: 4, W: 4, Kernel: [3]int{3, 3, 3}, Pads: [6]int{1, 1, 1, 1, 1, 1}}, x, y, "dwconv: bad geometry: strides must be >= 1"},
		{"pad too big", Geometry{C: 2, T: 3, H: 4, W: 4, Kernel: [3]int{3, 3, 3}, Strides: [3]int{1, 1, 1}, Pads: [6]int{3, 1, 1, 1, 1, 1}}, x, y, "dwconv: bad geometry: a pad is not smaller than the kernel"},
	} {
		err := Conv(Portable, tc.g, 1, tc.x, w, nil, tc.y, 1)
		if !errors.Is(err, ErrBadGeometry) || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := ParsePath("sse9"); !errors.Is(err, ErrUnknownPath) || err.Error() != `dwconv: unknown kernel path: "sse9", want auto, portable, avx2 or avx512` {
		t.Errorf("ParsePath(sse9) = %v", err)
	}
}
