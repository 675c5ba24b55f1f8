package infer

import (
	"encoding/binary"
	"fmt"
	"math"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/actionstream/actionstream/infer/dwconv"
)

// DepthwiseLayerModel is a one-node ONNX model (opset 17): Y = Conv(X, W, B) with group C,
// the geometry's kernel, strides and pads, X [batch,C,T,H,W]. It is what a channel-wise
// layer of an exported X3D looks like, for running one layer in ONNX Runtime.
func DepthwiseLayerModel(g dwconv.Geometry, batch int, w, b []float32) ([]byte, error) {
	o, err := g.Output()
	if err != nil {
		return nil, err
	}
	k := g.Kernel
	if len(w) != g.C*k[0]*k[1]*k[2] || (b != nil && len(b) != g.C) {
		return nil, fmt.Errorf("%w: weights of %d and bias of %d floats for %d channels of %v", dwconv.ErrBadGeometry, len(w), len(b), g.C, k)
	}
	ints := func(v ...int) []byte {
		var p []byte
		for _, x := range v {
			p = binary.AppendUvarint(p, uint64(x))
		}
		return p
	}
	attr := func(name string, typ uint64, body func([]byte) []byte) []byte {
		a := appendLen(nil, 1, []byte(name))
		return appendVarint(body(a), 20, typ)
	}
	const attrInt, attrInts = 2, 7
	intsAttr := func(name string, v ...int) []byte {
		return attr(name, attrInts, func(a []byte) []byte { return appendLen(a, 8, ints(v...)) })
	}
	node := appendLen(nil, 1, []byte("X"))
	node = appendLen(node, 1, []byte("W"))
	if b != nil {
		node = appendLen(node, 1, []byte("B"))
	}
	node = appendLen(node, 2, []byte("Y"))
	node = appendLen(node, 3, []byte("depthwise"))
	node = appendLen(node, 4, []byte("Conv"))
	node = appendLen(node, 5, intsAttr("dilations", 1, 1, 1))
	node = appendLen(node, 5, attr("group", attrInt, func(a []byte) []byte { return appendVarint(a, 3, uint64(g.C)) }))
	node = appendLen(node, 5, intsAttr("kernel_shape", k[:]...))
	node = appendLen(node, 5, intsAttr("pads", g.Pads[:]...))
	node = appendLen(node, 5, intsAttr("strides", g.Strides[:]...))

	tensor := func(name string, data []float32, dims ...int) []byte {
		t := appendLen(nil, 1, ints(dims...))
		t = appendVarint(t, 2, 1) // FLOAT
		t = appendLen(t, 8, []byte(name))
		raw := make([]byte, 0, 4*len(data))
		for _, f := range data {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
		}
		return appendLen(t, 9, raw)
	}
	value := func(name string, dims ...int) []byte {
		var shape []byte
		for _, d := range dims {
			shape = appendLen(shape, 1, appendVarint(nil, 1, uint64(d)))
		}
		tt := appendVarint(nil, 1, 1) // FLOAT
		tt = appendLen(tt, 2, shape)
		v := appendLen(nil, 1, []byte(name))
		return appendLen(v, 2, appendLen(nil, 1, tt))
	}
	graph := appendLen(nil, 1, node)
	graph = appendLen(graph, 2, []byte("depthwise_layer"))
	graph = appendLen(graph, 5, tensor("W", w, g.C, 1, k[0], k[1], k[2]))
	if b != nil {
		graph = appendLen(graph, 5, tensor("B", b, g.C))
	}
	graph = appendLen(graph, 11, value("X", batch, g.C, g.T, g.H, g.W))
	graph = appendLen(graph, 12, value("Y", batch, g.C, o[0], o[1], o[2]))

	m := appendVarint(nil, 1, 8) // ir_version
	m = appendLen(m, 2, []byte("actionstream"))
	m = appendLen(m, 7, graph)
	return appendLen(m, 8, appendVarint(appendLen(nil, 1, nil), 2, 17)), nil
}

// LayerSession runs a model of one float input X and one float output Y (a
// DepthwiseLayerModel) with the Runtime's threads and depthwise kernel, on the cpu provider.
type LayerSession struct {
	sess      *ort.DynamicAdvancedSession
	dw        *substitution
	in, out   ort.Shape
	Depthwise string // "ort" or "own-<path>", as Model.Depthwise
}

// OpenLayer builds the session; in and out are X's and Y's shapes.
func (r *Runtime) OpenLayer(model []byte, in, out []int64) (*LayerSession, error) {
	if err := r.loaded(); err != nil {
		return nil, err
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if r.threads > 0 {
		if err := so.SetIntraOpNumThreads(r.threads); err != nil {
			return nil, fmt.Errorf("set threads: %w", err)
		}
	}
	for k, v := range r.config {
		if err := so.AddSessionConfigEntry(k, v); err != nil {
			return nil, fmt.Errorf("session config %s=%s: %w", k, v, err)
		}
	}
	s := &LayerSession{in: ort.NewShape(in...), out: ort.NewShape(out...), Depthwise: DepthwiseORT}
	if p, own, err := depthwisePath(r.depthwise); err != nil {
		return nil, err
	} else if own {
		if model, s.dw, err = r.substituteDepthwise(model, so, p); err != nil {
			return nil, err
		}
		if s.dw != nil {
			s.Depthwise = DepthwiseOwn + "-" + p.String()
		}
	}
	s.sess, err = ort.NewDynamicAdvancedSessionWithONNXData(model, []string{"X"}, []string{"Y"}, so)
	if err != nil {
		s.dw.release()
		return nil, fmt.Errorf("infer: layer session: %w", err)
	}
	return s, nil
}

// Run computes y from x (sizes of the shapes given to OpenLayer).
func (s *LayerSession) Run(x, y []float32) error {
	in, err := ort.NewTensor(s.in, x)
	if err != nil {
		return fmt.Errorf("infer: layer input: %w", err)
	}
	defer in.Destroy()
	out, err := ort.NewTensor(s.out, y)
	if err != nil {
		return fmt.Errorf("infer: layer output: %w", err)
	}
	defer out.Destroy()
	return s.sess.Run([]ort.Value{in}, []ort.Value{out})
}

// Close destroys the session, then the custom op it used.
func (s *LayerSession) Close() error {
	err := s.sess.Destroy()
	s.dw.release()
	return err
}
