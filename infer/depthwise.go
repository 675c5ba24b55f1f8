package infer

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/actionstream/actionstream/infer/dwconv"
)

// Depthwise kernels (model.runtime.depthwise_kernel): which code runs the channel-wise
// 3×3×3 convolutions of a model on the cpu provider. docs/BENCHMARKS.md has the comparison.
const (
	DepthwiseORT = "ort" // ONNX Runtime's Conv
	DepthwiseOwn = "own" // infer/dwconv, widest path this CPU has; "own-portable", "own-avx2", "own-avx512" force one
)

// DefaultDepthwiseKernel is the one that won the comparison on X3D-S.
const DefaultDepthwiseKernel = DepthwiseOwn

// depthwisePath maps a depthwise_kernel value to the dwconv path; ok is false for "ort".
func depthwisePath(kernel string) (p dwconv.Path, ok bool, err error) {
	switch {
	case kernel == "" || kernel == DepthwiseOwn:
		return dwconv.Best(), true, nil
	case kernel == DepthwiseORT:
		return 0, false, nil
	case strings.HasPrefix(kernel, DepthwiseOwn+"-"):
		p, err := dwconv.ParsePath(strings.TrimPrefix(kernel, DepthwiseOwn+"-"))
		if err == nil && p.String() == strings.TrimPrefix(kernel, DepthwiseOwn+"-") {
			if !p.Supported() {
				return 0, false, fmt.Errorf("%w: depthwise_kernel %s: this CPU lacks %s", ErrBadOptions, kernel, p)
			}
			return p, true, nil
		}
	}
	return 0, false, fmt.Errorf("%w: depthwise_kernel %q, want ort, own, own-portable, own-avx2 or own-avx512", ErrBadOptions, kernel)
}

// substitution is the depthwise custom op of one session: released after the session.
type substitution struct {
	reg   *dwconv.Registration
	path  dwconv.Path
	nodes int
}

func (s *substitution) release() {
	if s != nil {
		s.reg.Release()
	}
}

// substituteDepthwise registers the op with so and rewrites the model's channel-wise 3×3×3
// Conv nodes to it. A model with none comes back unchanged with a nil substitution.
func (r *Runtime) substituteDepthwise(b []byte, so *ort.SessionOptions, p dwconv.Path) ([]byte, *substitution, error) {
	out, n, err := RewriteDepthwise(b)
	if err != nil || n == 0 {
		return b, nil, err
	}
	ptr := sessionPointer(so)
	if ptr == nil {
		return nil, nil, fmt.Errorf("infer: onnxruntime_go's SessionOptions is not one pointer: cannot add the depthwise op")
	}
	reg, err := dwconv.Register(ptr, r.lib, p)
	if err != nil {
		return nil, nil, fmt.Errorf("infer: depthwise kernel: %w", err)
	}
	return out, &substitution{reg: reg, path: p, nodes: n}, nil
}

// sessionPointer is the C OrtSessionOptions* behind so, for the C API calls onnxruntime_go
// v1.27.0 does not wrap (custom ops, thread hooks): its SessionOptions is exactly that
// pointer. nil if the type ever changes shape.
func sessionPointer(so *ort.SessionOptions) unsafe.Pointer {
	if unsafe.Sizeof(*so) != unsafe.Sizeof(uintptr(0)) {
		return nil
	}
	return *(*unsafe.Pointer)(unsafe.Pointer(so))
}

// RewriteDepthwise returns the model with every top-level channel-wise 3×3×3 Conv (ONNX
// domain; float32 weight initializer [C,1,3,3,3] with group C; dilation 1; explicit pads of at most
// 2; bias or not) turned into dwconv's custom op, which keeps the Conv's inputs, outputs and
// attributes, and the op's domain added to the opset imports. n is the number of nodes
// rewritten; with none the input comes back as it is.
func RewriteDepthwise(b []byte) (out []byte, n int, err error) {
	var graph []byte
	var rest []field
	if err := walk(b, func(f field) error {
		if f.num == 7 && f.wire == wireLen {
			graph = f.bytes
			return nil
		}
		rest = append(rest, f)
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrNotONNX, err)
	}
	if graph == nil {
		return nil, 0, fmt.Errorf("%w: no graph", ErrNotONNX)
	}
	newGraph, n, err := rewriteGraph(graph)
	if err != nil || n == 0 {
		return b, 0, err
	}
	out = make([]byte, 0, len(b)-len(graph)+len(newGraph)+32)
	for _, f := range rest {
		if out, err = appendField(out, f); err != nil {
			return nil, 0, err
		}
	}
	out = appendLen(out, 7, newGraph)
	// opset_import {domain, version 1}
	op := appendLen(nil, 1, []byte(dwconv.Domain))
	op = appendVarint(op, 2, 1)
	return appendLen(out, 8, op), n, nil
}

func rewriteGraph(g []byte) ([]byte, int, error) {
	weights := map[string][]int64{} // float32 initializer name -> dims (the kernel is float32 only; fp16 models keep ORT's Conv)
	if err := walk(g, func(f field) error {
		if f.num != 5 || f.wire != wireLen {
			return nil
		}
		var name string
		var dims []int64
		var dataType uint64
		err := walk(f.bytes, func(t field) error {
			switch t.num {
			case 1:
				return appendInts(&dims, t)
			case 2:
				dataType = t.ival
			case 8:
				name = string(t.bytes)
			}
			return nil
		})
		if dataType == onnxFloat {
			weights[name] = dims
		}
		return err
	}); err != nil {
		return nil, 0, fmt.Errorf("%w: graph: %w", ErrNotONNX, err)
	}
	// A rewritten node is about its old size: one allocation for the graph, not a doubling
	// series (each a fresh run of page faults on a multi-megabyte model).
	out := make([]byte, 0, len(g)+len(g)/64+4096)
	n := 0
	err := walk(g, func(f field) error {
		if f.num == 1 && f.wire == wireLen {
			node, ok, err := rewriteNode(f.bytes, weights)
			if err != nil {
				return err
			}
			if ok {
				n++
				out = appendLen(out, 1, node)
				return nil
			}
		}
		var err error
		out, err = appendField(out, f)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("%w: graph: %w", ErrNotONNX, err)
	}
	return out, n, nil
}

// rewriteNode returns the node as the custom op when it is a channel-wise 3×3×3 Conv.
func rewriteNode(b []byte, weights map[string][]int64) ([]byte, bool, error) {
	var inputs []string
	var opType, domain string
	group := int64(1)
	var kernel, dilations, pads []int64
	var autoPad string
	err := walk(b, func(f field) error {
		switch f.num {
		case 1:
			inputs = append(inputs, string(f.bytes))
		case 4:
			opType = string(f.bytes)
		case 7:
			domain = string(f.bytes)
		case 5:
			var name string
			var i int64
			var ints []int64
			var s string
			if err := walk(f.bytes, func(a field) error {
				switch a.num {
				case 1:
					name = string(a.bytes)
				case 3:
					i = int64(a.ival)
				case 4:
					s = string(a.bytes)
				case 8:
					return appendInts(&ints, a)
				}
				return nil
			}); err != nil {
				return err
			}
			switch name {
			case "group":
				group = i
			case "kernel_shape":
				kernel = ints
			case "dilations":
				dilations = ints
			case "pads":
				pads = ints
			case "auto_pad":
				autoPad = s
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if opType != "Conv" || (domain != "" && domain != "ai.onnx") || len(inputs) < 2 || len(inputs) > 3 {
		return nil, false, nil
	}
	w := weights[inputs[1]]
	if len(w) != 5 || w[0] != group || w[1] != 1 || w[2] != 3 || w[3] != 3 || w[4] != 3 {
		return nil, false, nil
	}
	if (kernel != nil && !equalInts(kernel, 3, 3, 3)) || (dilations != nil && !equalInts(dilations, 1, 1, 1)) ||
		(autoPad != "" && autoPad != "NOTSET") || (pads != nil && len(pads) != 6) {
		return nil, false, nil
	}
	for _, p := range pads {
		if p < 0 || p > 2 { // the kernel takes pads smaller than the kernel only
			return nil, false, nil
		}
	}
	var out []byte
	if err := walk(b, func(f field) error {
		if f.num == 4 || f.num == 7 {
			return nil
		}
		var err error
		out, err = appendField(out, f)
		return err
	}); err != nil {
		return nil, false, err
	}
	out = appendLen(out, 4, []byte(dwconv.OpType))
	return appendLen(out, 7, []byte(dwconv.Domain)), true, nil
}

func equalInts(s []int64, want ...int64) bool {
	if len(s) != len(want) {
		return false
	}
	for i := range s {
		if s[i] != want[i] {
			return false
		}
	}
	return true
}

// appendInts decodes a repeated int64 field, packed or not.
func appendInts(dst *[]int64, f field) error {
	switch f.wire {
	case wireVarint:
		*dst = append(*dst, int64(f.ival))
	case wireLen:
		for b := f.bytes; len(b) > 0; {
			v, n := uvarint(b)
			if n <= 0 {
				return fmt.Errorf("%w: bad packed varint", errWire)
			}
			*dst, b = append(*dst, int64(v)), b[n:]
		}
	}
	return nil
}

// appendField re-encodes a field walk decoded (fixed-width fields carry no payload there and
// do not occur in the messages rewritten).
func appendField(b []byte, f field) ([]byte, error) {
	switch f.wire {
	case wireVarint:
		return appendVarint(b, f.num, f.ival), nil
	case wireLen:
		return appendLen(b, f.num, f.bytes), nil
	}
	return nil, fmt.Errorf("%w: fixed-width field %d where none is expected", errWire, f.num)
}

func appendVarint(b []byte, num int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireVarint)
	return binary.AppendUvarint(b, v)
}

func appendLen(b []byte, num int, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireLen)
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}
