//go:build dnnl

package dwconv

/*
#cgo LDFLAGS: -ldnnl -lgomp
#include "dnnl.h"
*/
import "C"

import "fmt"

// HaveDNNL says whether this build has the oneDNN comparison (build tag dnnl).
const HaveDNNL = true

// DNNL is oneDNN's channel-wise convolution of one geometry and batch, with its inputs
// copied in and kept in the blocked layouts oneDNN chose.
type DNNL struct {
	d     *C.dw_dnnl
	outN  int
	Impl  string // oneDNN's implementation name, e.g. "jit_dw:avx512_core"
	Input string // the source layout it chose, e.g. "nCdhw16c"
}

// NewDNNL sets the convolution up: x [n,C,T,H,W], w [C,1,KT,KH,KW], b [C] or nil; block 8
// or 16 asks for the nCdhw8c / nCdhw16c layout, 0 lets oneDNN choose.
func NewDNNL(g Geometry, n, block int, x, w, b []float32) (*DNNL, error) {
	cg, err := g.c()
	if err != nil {
		return nil, err
	}
	if len(x) != n*g.C*g.T*g.H*g.W || len(w) != g.C*int(cg.ntap) || (b != nil && len(b) != g.C) {
		return nil, fmt.Errorf("%w: buffer sizes", ErrBadGeometry)
	}
	var bp *C.float
	if b != nil {
		bp = (*C.float)(&b[0])
	}
	var cerr *C.char
	d := C.dw_dnnl_create(&cg, C.int64_t(n), C.int(block), (*C.float)(&x[0]), (*C.float)(&w[0]), bp, &cerr)
	if d == nil {
		return nil, fmt.Errorf("%w: %s", ErrDNNL, C.GoString(cerr))
	}
	return &DNNL{d: d, outN: n * g.C * int(cg.ot*cg.oh*cg.ow), Impl: C.GoString(C.dw_dnnl_impl(d)), Input: C.GoString(C.dw_dnnl_layout(d))}, nil
}

// Run computes once on threads OpenMP threads; withReorders adds the conversions from NCDHW
// and back that a graph in NCDHW would need around it.
func (d *DNNL) Run(threads int, withReorders bool) error {
	r := 0
	if withReorders {
		r = 1
	}
	if C.dw_dnnl_run(d.d, C.int(threads), C.int(r)) != 0 {
		return fmt.Errorf("%w: execute failed", ErrDNNL)
	}
	return nil
}

// Output copies the last result, NCDHW, into y.
func (d *DNNL) Output(y []float32) error {
	if len(y) != d.outN {
		return fmt.Errorf("%w: y has %d floats, want %d", ErrBadGeometry, len(y), d.outN)
	}
	if C.dw_dnnl_output(d.d, (*C.float)(&y[0])) != 0 {
		return fmt.Errorf("%w: output reorder failed", ErrDNNL)
	}
	return nil
}

// Close frees the primitives and memory.
func (d *DNNL) Close() {
	C.dw_dnnl_destroy(d.d)
	d.d = nil
}
