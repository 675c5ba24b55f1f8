//go:build dnnl

package dwconv

import (
	"math/rand/v2"
	"testing"
)

// oneDNN computes what the reference does on every X3D-S shape (so its timings compare like
// with like), with and without the reorders.
func TestDNNLMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, g := range x3dS()[:2] {
		o, _ := g.Output()
		x, w, b := random(r, g.C*g.T*g.H*g.W), random(r, g.C*27), random(r, g.C)
		for _, block := range []int{0, 8, 16} {
			d, err := NewDNNL(g, 1, block, x, w, b)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			t.Logf("%+v block %d: %s, %s", g, block, d.Impl, d.Input)
			y := make([]float32, g.C*o[0]*o[1]*o[2])
			for _, re := range []bool{false, true} {
				if err := d.Run(2, re); err != nil {
					t.Fatal(err)
				}
				if err := d.Output(y); err != nil {
					t.Fatal(err)
				}
				if diff := maxDiff(y, reference(g, 1, x, w, b)); diff > 1e-5 {
					t.Errorf("%+v block %d reorders %v: max |diff| %.3g", g, block, re, diff)
				}
			}
		}
	}
}
