// Package kserve is an HTTP/JSON client of the KServe v2 inference protocol (the Open
// Inference Protocol that NVIDIA Triton, KServe and OpenVINO Model Server speak) and an
// infer.Backend on top of it, so the batcher can score clips on a remote server instead of
// the in-process ONNX Runtime session.
//
// Protocol: https://github.com/kserve/kserve/blob/master/docs/predict-api/v2/required_api.md
// (health, server and model metadata, inference; tensors as JSON arrays in row-major order).
package kserve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Tensor data types of the protocol that this client sends or reads.
const (
	DatatypeFP32 = "FP32"
)

// ServerMetadata is the answer of GET /v2.
type ServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

// TensorMetadata describes one input or output of a model; -1 is a variable-size dimension.
type TensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelMetadata is the answer of GET /v2/models/{name}[/versions/{v}].
type ModelMetadata struct {
	Name     string           `json:"name"`
	Versions []string         `json:"versions,omitempty"`
	Platform string           `json:"platform"`
	Inputs   []TensorMetadata `json:"inputs"`
	Outputs  []TensorMetadata `json:"outputs"`
}

// RequestInput is one input tensor of an inference request, the whole batch's data flattened.
type RequestInput struct {
	Name     string    `json:"name"`
	Shape    []int64   `json:"shape"`
	Datatype string    `json:"datatype"`
	Data     []float32 `json:"-"` // written by MarshalJSON, compactly
}

// MarshalJSON writes the input with its FP32 data as the shortest decimal that reads back
// to the same float32 (encoding/json would widen each to float64 digits).
func (in RequestInput) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := in.encode(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encode appends the input's JSON to b.
func (in RequestInput) encode(b *bytes.Buffer) error {
	head, err := json.Marshal(struct {
		Name     string  `json:"name"`
		Shape    []int64 `json:"shape"`
		Datatype string  `json:"datatype"`
	}{in.Name, in.Shape, in.Datatype})
	if err != nil {
		return err
	}
	b.Grow(len(head) + 12*len(in.Data) + 10)
	b.Write(head[:len(head)-1])
	b.WriteString(`,"data":[`)
	num := make([]byte, 0, 24)
	for i, v := range in.Data {
		if i > 0 {
			b.WriteByte(',')
		}
		num = strconv.AppendFloat(num[:0], float64(v), 'g', -1, 32)
		b.Write(num)
	}
	b.WriteString("]}")
	return nil
}

// MarshalJSON is encode, for callers that marshal a request themselves.
func (r InferRequest) MarshalJSON() ([]byte, error) { return r.encode() }

// encode writes the request's JSON. Marshalling it whole would make encoding/json re-read and
// compact every number MarshalJSON wrote: a clip is tens of thousands of them.
func (r InferRequest) encode() ([]byte, error) {
	var b bytes.Buffer
	n := 0
	for _, in := range r.Inputs {
		n += 12 * len(in.Data)
	}
	b.Grow(n + 256)
	b.WriteByte('{')
	if r.ID != "" {
		id, _ := json.Marshal(r.ID)
		b.WriteString(`"id":`)
		b.Write(id)
		b.WriteByte(',')
	}
	b.WriteString(`"inputs":[`)
	for i, in := range r.Inputs {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := in.encode(&b); err != nil {
			return nil, err
		}
	}
	b.WriteByte(']')
	if len(r.Outputs) > 0 {
		outs, err := json.Marshal(r.Outputs)
		if err != nil {
			return nil, err
		}
		b.WriteString(`,"outputs":`)
		b.Write(outs)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// RequestOutput names an output the response must carry.
type RequestOutput struct {
	Name string `json:"name"`
}

// InferRequest is the body of POST /v2/models/{name}/infer.
type InferRequest struct {
	ID      string          `json:"id,omitempty"`
	Inputs  []RequestInput  `json:"inputs"`
	Outputs []RequestOutput `json:"outputs,omitempty"`
}

// ResponseOutput is one output tensor of an inference response.
type ResponseOutput struct {
	Name     string          `json:"name"`
	Shape    []int64         `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

// InferResponse is the answer of a successful inference request.
type InferResponse struct {
	ModelName    string           `json:"model_name"`
	ModelVersion string           `json:"model_version,omitempty"`
	ID           string           `json:"id"`
	Outputs      []ResponseOutput `json:"outputs"`
}

// errorBody is the protocol's error object: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

// Float32s reads the output's data as float32 values in row-major order: the protocol allows
// a flat array or the tensor's natural nesting. The count must fill the shape.
func (o ResponseOutput) Float32s() ([]float32, error) {
	if o.Datatype != DatatypeFP32 {
		return nil, fmt.Errorf("%w: output %q is %s, want %s", ErrProtocol, o.Name, o.Datatype, DatatypeFP32)
	}
	want := int64(1)
	for _, d := range o.Shape {
		if d < 0 {
			return nil, fmt.Errorf("%w: output %q has shape %v (negative dimension)", ErrProtocol, o.Name, o.Shape)
		}
		want *= d
	}
	out := make([]float32, 0, want)
	if err := flatten(o.Data, &out); err != nil {
		return nil, fmt.Errorf("%w: output %q data: %v", ErrProtocol, o.Name, err)
	}
	if int64(len(out)) != want {
		return nil, fmt.Errorf("%w: output %q has %d values, its shape %v needs %d", ErrProtocol, o.Name, len(out), o.Shape, want)
	}
	return out, nil
}

// flatten appends the numbers of a (possibly nested) JSON array to out.
func flatten(raw json.RawMessage, out *[]float32) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return fmt.Errorf("not an array")
	}
	var flat []float32
	if err := json.Unmarshal(raw, &flat); err == nil {
		*out = append(*out, flat...)
		return nil
	}
	var nested []json.RawMessage
	if err := json.Unmarshal(raw, &nested); err != nil {
		return err
	}
	for _, n := range nested {
		if err := flatten(n, out); err != nil {
			return err
		}
	}
	return nil
}
