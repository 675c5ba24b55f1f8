// Package dwconv is a channel-wise (depthwise) 3-D convolution kernel for CPUs and its
// registration with ONNX Runtime as a custom operator. It is the one cgo package of infer.
//
// The kernel (C, dwconv.h) has a portable path and AVX2/FMA and AVX-512F paths, chosen at run
// time from CPUID (Best). ONNX Runtime's own Conv runs a channel-wise 3-D convolution as a
// matrix multiply per channel, far below the CPU's limits; see docs/BENCHMARKS.md.
//
// Register adds the op (domain "com.actionstream", type "DepthwiseConv3d") to one session's
// options; infer rewrites the matching Conv nodes of the in-memory model to it.
package dwconv

/*
#cgo CFLAGS: -O3 -std=gnu11 -Wall -I${SRCDIR}/ortapi
#cgo LDFLAGS: -ldl -lpthread
#include <stdlib.h>
#include "dwconv.h"
#include "customop.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

//go:generate sh -c "m=$DOLLAR(go list -m -f {{.Dir}} github.com/yalue/onnxruntime_go) && cp $DOLLAR{m}/onnxruntime_c_api.h $DOLLAR{m}/onnxruntime_ep_c_api.h ortapi/ && chmod 644 ortapi/*.h"

// The custom operator's domain and type, as written into rewritten models.
const (
	Domain = C.DW_DOMAIN
	OpType = C.DW_OP
)

// Path is one implementation of the kernel.
type Path int

// The kernel's paths; Best picks the widest the CPU supports.
const (
	Portable Path = C.DW_PATH_PORTABLE
	AVX2     Path = C.DW_PATH_AVX2
	AVX512   Path = C.DW_PATH_AVX512
)

// Paths lists every path, supported here or not.
func Paths() []Path { return []Path{Portable, AVX2, AVX512} }

func (p Path) String() string { return C.GoString(C.dw_path_name(C.int(p))) }

// Supported reports whether this CPU and OS can run p.
func (p Path) Supported() bool {
	return p >= Portable && p <= AVX512 && C.dw_path_supported(C.int(p)) != 0
}

// Best is the widest supported path.
func Best() Path { return Path(C.dw_best_path()) }

// ParsePath reads a path name ("portable", "avx2", "avx512") or "auto" (Best).
func ParsePath(s string) (Path, error) {
	if s == "auto" || s == "" {
		return Best(), nil
	}
	for _, p := range Paths() {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: %q, want auto, portable, avx2 or avx512", ErrUnknownPath, s)
}

// Geometry is one convolution: input channels and volume, kernel, strides and pads
// (begin t,h,w then end t,h,w, as ONNX Conv's pads).
type Geometry struct {
	C, T, H, W int
	Kernel     [3]int
	Strides    [3]int
	Pads       [6]int
}

func (g Geometry) c() (C.dw_geom, error) {
	cg := C.dw_geom{c: C.int64_t(g.C), t: C.int64_t(g.T), h: C.int64_t(g.H), w: C.int64_t(g.W),
		kt: C.int64_t(g.Kernel[0]), kh: C.int64_t(g.Kernel[1]), kw: C.int64_t(g.Kernel[2]),
		st: C.int64_t(g.Strides[0]), sh: C.int64_t(g.Strides[1]), sw: C.int64_t(g.Strides[2]),
		pt0: C.int64_t(g.Pads[0]), ph0: C.int64_t(g.Pads[1]), pw0: C.int64_t(g.Pads[2]),
		pt1: C.int64_t(g.Pads[3]), ph1: C.int64_t(g.Pads[4]), pw1: C.int64_t(g.Pads[5])}
	if msg := C.dw_geometry(&cg); msg != nil {
		return cg, fmt.Errorf("%w: %s", ErrBadGeometry, C.GoString(msg))
	}
	return cg, nil
}

// Output is the output volume (T, H, W).
func (g Geometry) Output() ([3]int, error) {
	cg, err := g.c()
	return [3]int{int(cg.ot), int(cg.oh), int(cg.ow)}, err
}

// MACs is the multiply-adds of one batch item.
func (g Geometry) MACs() (int64, error) {
	o, err := g.Output()
	return int64(g.C) * int64(o[0]*o[1]*o[2]) * int64(g.Kernel[0]*g.Kernel[1]*g.Kernel[2]), err
}

// Conv computes y = conv(x, w) + b for n batch items (x [n,C,T,H,W], w [C,1,KT,KH,KW],
// b [C] or nil, y [n,C,OT,OH,OW]) on path p, splitting the volumes over threads goroutines
// (0 = one per CPU).
func Conv(p Path, g Geometry, n int, x, w, b, y []float32, threads int) error {
	if !p.Supported() {
		return fmt.Errorf("%w: %s", ErrUnsupported, p)
	}
	cg, err := g.c()
	if err != nil {
		return err
	}
	o := [3]int{int(cg.ot), int(cg.oh), int(cg.ow)}
	ntap := g.Kernel[0] * g.Kernel[1] * g.Kernel[2]
	switch {
	case n < 1:
		return fmt.Errorf("%w: batch %d", ErrBadGeometry, n)
	case len(x) != n*g.C*g.T*g.H*g.W:
		return fmt.Errorf("%w: x has %d floats, want %d", ErrBadGeometry, len(x), n*g.C*g.T*g.H*g.W)
	case len(w) != g.C*ntap:
		return fmt.Errorf("%w: w has %d floats, want %d", ErrBadGeometry, len(w), g.C*ntap)
	case b != nil && len(b) != g.C:
		return fmt.Errorf("%w: b has %d floats, want %d", ErrBadGeometry, len(b), g.C)
	case len(y) != n*g.C*o[0]*o[1]*o[2]:
		return fmt.Errorf("%w: y has %d floats, want %d", ErrBadGeometry, len(y), n*g.C*o[0]*o[1]*o[2])
	}
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	volumes := n * g.C
	threads = min(threads, volumes)
	var bp *C.float
	if b != nil {
		bp = (*C.float)(&b[0])
	}
	var wg sync.WaitGroup
	failed := make([]bool, threads)
	for i := range threads {
		from, to := volumes*i/threads, volumes*(i+1)/threads
		wg.Go(func() {
			failed[i] = C.dw_range(C.int(p), &cg, (*C.float)(&x[0]), (*C.float)(&w[0]), bp, (*C.float)(&y[0]),
				C.int64_t(from), C.int64_t(to)) != 0
		})
	}
	wg.Wait()
	for _, f := range failed {
		if f {
			return ErrNoMemory
		}
	}
	return nil
}

// Registration is the custom operator added to one ONNX Runtime session's options. It must
// stay alive until every session made with those options is destroyed; then Release.
type Registration struct {
	r *C.dw_registration
}

// Register adds the op, computed on path p, to sessionOptions: a C OrtSessionOptions* of the
// ONNX Runtime library loaded from lib (the library must already be loaded in this process).
func Register(sessionOptions unsafe.Pointer, lib string, p Path) (*Registration, error) {
	if sessionOptions == nil {
		return nil, fmt.Errorf("%w: nil session options", ErrRegister)
	}
	clib := C.CString(lib)
	defer C.free(unsafe.Pointer(clib))
	var cerr *C.char
	r := C.dw_register(sessionOptions, clib, C.int(p), &cerr)
	if r == nil {
		msg := "unknown error"
		if cerr != nil {
			msg = C.GoString(cerr)
			C.dw_free_error(cerr)
		}
		return nil, fmt.Errorf("%w: %s", ErrRegister, strings.TrimSpace(msg))
	}
	return &Registration{r: r}, nil
}

// Release frees the registration; only after the sessions using it are destroyed. Idempotent.
func (r *Registration) Release() {
	if r == nil || r.r == nil {
		return
	}
	C.dw_release(r.r)
	r.r = nil
}
