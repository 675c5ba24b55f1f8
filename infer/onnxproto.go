package infer

import (
	"errors"
	"fmt"
)

// A minimal reader of the protobuf wire format, enough to walk an ONNX ModelProto
// (onnx/onnx.proto3) down to metadata_props and the graph's inputs and outputs.
// Field numbers used below come from that file.

var errWire = errors.New("malformed protobuf")

const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireI32    = 5
)

// field is one decoded protobuf field: num and either a varint or a length-delimited payload.
type field struct {
	num   int
	wire  int
	ival  uint64
	bytes []byte
}

// walk calls fn for every top-level field in b. It rejects groups, bad lengths and
// field number 0, so random bytes almost never pass as a message.
func walk(b []byte, fn func(f field) error) error {
	for len(b) > 0 {
		key, n := uvarint(b)
		if n <= 0 {
			return fmt.Errorf("%w: bad field key", errWire)
		}
		b = b[n:]
		f := field{num: int(key >> 3), wire: int(key & 7)}
		if f.num <= 0 || key>>3 > 1<<29-1 {
			return fmt.Errorf("%w: field number %d", errWire, key>>3)
		}
		switch f.wire {
		case wireVarint:
			v, n := uvarint(b)
			if n <= 0 {
				return fmt.Errorf("%w: bad varint in field %d", errWire, f.num)
			}
			f.ival, b = v, b[n:]
		case wireI64:
			if len(b) < 8 {
				return fmt.Errorf("%w: truncated fixed64 in field %d", errWire, f.num)
			}
			b = b[8:]
		case wireI32:
			if len(b) < 4 {
				return fmt.Errorf("%w: truncated fixed32 in field %d", errWire, f.num)
			}
			b = b[4:]
		case wireLen:
			l, n := uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return fmt.Errorf("%w: bad length in field %d", errWire, f.num)
			}
			f.bytes, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return fmt.Errorf("%w: wire type %d in field %d", errWire, f.wire, f.num)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// protoModel is the part of an ONNX ModelProto that the model contract needs.
type protoModel struct {
	IRVersion int64
	Opsets    map[string]int64
	Props     map[string]string
	HasGraph  bool
	Inputs    []valueInfo // graph inputs that are not initializers
	Outputs   []valueInfo
}

// valueInfo is a graph input/output: name, element type (onnx TensorProto.DataType) and dims.
type valueInfo struct {
	Name     string
	ElemType int32
	IsTensor bool
	HasShape bool
	Dims     []dim
}

// dim is one tensor dimension: a fixed value, a symbolic name, or neither (unknown).
type dim struct {
	Value int64
	Param string
	Fixed bool
}

func (d dim) String() string {
	switch {
	case d.Fixed:
		return fmt.Sprint(d.Value)
	case d.Param != "":
		return d.Param
	default:
		return "?"
	}
}

// onnx TensorProto.DataType values used here.
const onnxFloat = 1

// parseModel decodes the fields of ModelProto this package uses and skips the rest.
func parseModel(b []byte) (*protoModel, error) {
	m := &protoModel{Props: map[string]string{}, Opsets: map[string]int64{}}
	var graph []byte
	err := walk(b, func(f field) error {
		switch {
		case f.num == 1 && f.wire == wireVarint: // ir_version
			m.IRVersion = int64(f.ival)
		case f.num == 7 && f.wire == wireLen: // graph
			graph = f.bytes
			m.HasGraph = true
		case f.num == 8 && f.wire == wireLen: // opset_import
			var domain string
			var version int64
			if err := walk(f.bytes, func(g field) error {
				switch {
				case g.num == 1 && g.wire == wireLen:
					domain = string(g.bytes)
				case g.num == 2 && g.wire == wireVarint:
					version = int64(g.ival)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("opset_import: %w", err)
			}
			m.Opsets[domain] = version
		case f.num == 14 && f.wire == wireLen: // metadata_props
			var k, v string
			if err := walk(f.bytes, func(g field) error {
				switch {
				case g.num == 1 && g.wire == wireLen:
					k = string(g.bytes)
				case g.num == 2 && g.wire == wireLen:
					v = string(g.bytes)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("metadata_props: %w", err)
			}
			m.Props[k] = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if m.IRVersion <= 0 || !m.HasGraph {
		return m, nil
	}
	if err := parseGraph(graph, m); err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	return m, nil
}

func parseGraph(b []byte, m *protoModel) error {
	initializers := map[string]bool{}
	var inputs []valueInfo
	err := walk(b, func(f field) error {
		if f.wire != wireLen {
			return nil
		}
		switch f.num {
		case 5: // initializer (TensorProto), name = 8
			return walk(f.bytes, func(g field) error {
				if g.num == 8 && g.wire == wireLen {
					initializers[string(g.bytes)] = true
				}
				return nil
			})
		case 11, 12: // input, output (ValueInfoProto)
			vi, err := parseValueInfo(f.bytes)
			if err != nil {
				return err
			}
			if f.num == 11 {
				inputs = append(inputs, vi)
			} else {
				m.Outputs = append(m.Outputs, vi)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Before IR version 4 initializers were also listed as inputs; they are not fed by us.
	for _, in := range inputs {
		if !initializers[in.Name] {
			m.Inputs = append(m.Inputs, in)
		}
	}
	return nil
}

func parseValueInfo(b []byte) (valueInfo, error) {
	var vi valueInfo
	err := walk(b, func(f field) error {
		switch {
		case f.num == 1 && f.wire == wireLen: // name
			vi.Name = string(f.bytes)
		case f.num == 2 && f.wire == wireLen: // type (TypeProto)
			return walk(f.bytes, func(g field) error {
				if g.num != 1 || g.wire != wireLen { // tensor_type only
					return nil
				}
				vi.IsTensor = true
				return walk(g.bytes, func(h field) error {
					switch {
					case h.num == 1 && h.wire == wireVarint: // elem_type
						vi.ElemType = int32(h.ival)
					case h.num == 2 && h.wire == wireLen: // shape (TensorShapeProto)
						vi.HasShape = true
						return walk(h.bytes, func(s field) error {
							if s.num != 1 || s.wire != wireLen { // dim
								return nil
							}
							var d dim
							err := walk(s.bytes, func(x field) error {
								switch {
								case x.num == 1 && x.wire == wireVarint:
									d.Value, d.Fixed = int64(x.ival), true
								case x.num == 2 && x.wire == wireLen:
									d.Param = string(x.bytes)
								}
								return nil
							})
							vi.Dims = append(vi.Dims, d)
							return err
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	return vi, err
}
