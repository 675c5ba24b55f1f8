package dwconv

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkConv: each X3D-S layer shape on each supported path, one thread (GMAC/s reported).
func BenchmarkConv(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, g := range x3dS() {
		o, _ := g.Output()
		macs, _ := g.MACs()
		x, w, bias := random(r, g.C*g.T*g.H*g.W), random(r, g.C*27), random(r, g.C)
		y := make([]float32, g.C*o[0]*o[1]*o[2])
		for _, p := range Paths() {
			if !p.Supported() {
				continue
			}
			b.Run(fmt.Sprintf("%s/c%d_%dx%d_s%d", p, g.C, g.H, g.W, g.Strides[1]), func(b *testing.B) {
				for b.Loop() {
					if err := Conv(p, g, 1, x, w, bias, y, 1); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(macs)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
			})
		}
	}
}
