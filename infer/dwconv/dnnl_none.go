//go:build !dnnl

package dwconv

import "fmt"

// HaveDNNL says whether this build has the oneDNN comparison (build tag dnnl).
const HaveDNNL = false

// DNNL is oneDNN's convolution; this build has none (build with -tags dnnl and libdnnl-dev).
type DNNL struct {
	Impl, Input string
}

// NewDNNL fails with ErrDNNL in a build without the dnnl tag.
func NewDNNL(Geometry, int, int, []float32, []float32, []float32) (*DNNL, error) {
	return nil, fmt.Errorf("%w: not in this build (go build -tags dnnl, with Debian's libdnnl-dev)", ErrDNNL)
}

func (d *DNNL) Run(int, bool) error    { return ErrDNNL }
func (d *DNNL) Output([]float32) error { return ErrDNNL }
func (d *DNNL) Close()                 {}
