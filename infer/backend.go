package infer

import (
	"context"
	"fmt"
)

// Backend runs a model on batches of clips: the in-process ONNX Runtime session (*Model) or a
// remote inference server (infer/kserve). The Batcher is its one caller, one call at a time,
// so an implementation may reuse its buffers between calls.
type Backend interface {
	// Info is the model the backend serves. It does not change after the backend is made.
	Info() BackendInfo
	// Infer scores n clips laid out back to back in clips ([n,3,T,S,S] row-major, n×ClipLen
	// values) and returns every output of the model by name, each with the batch dimension
	// first. The tensors stay valid until the next Infer call. ctx bounds the call (a remote
	// call's timeout); an error means no clip of the batch was scored, and the Batcher counts
	// it and goes on with the next batch (a later call may succeed).
	Infer(ctx context.Context, clips []float32, n int) (Outputs, error)
}

// BackendInfo describes the model behind a Backend.
type BackendInfo struct {
	Meta   Metadata // the model contract (labels, T, τ, S, normalisation, score function)
	Digest string   // "sha256:<hex>" of the model file
	// MaxBatch is the model's fixed batch size (every call is padded to it), or 0 for any n.
	MaxBatch int
	// Provider is what runs it: an ONNX Runtime execution provider (cpu, cuda, tensorrt) or
	// "kserve"; Where says it for logs: "onnxruntime/cpu", "kserve http://…".
	Provider, Where string
}

// Tensor is one named output of a batch: float32 values, row-major in Shape.
type Tensor struct {
	Shape []int64
	Data  []float32
}

// Outputs are a batch's output tensors by name ("logits", and what a detection model adds).
type Outputs map[string]Tensor

// OutputLogits is the output every model of the contract has: float32 [N, C].
const OutputLogits = "logits"

// Row is the values of clip i of a tensor whose first dimension is the batch.
func (t Tensor) Row(i int) ([]float32, error) {
	if len(t.Shape) == 0 || t.Shape[0] <= 0 || int64(i) >= t.Shape[0] {
		return nil, fmt.Errorf("%w: row %d of a tensor of shape %v", ErrBadOutput, i, t.Shape)
	}
	per := len(t.Data) / int(t.Shape[0])
	if per*int(t.Shape[0]) != len(t.Data) {
		return nil, fmt.Errorf("%w: %d values do not fill shape %v", ErrBadOutput, len(t.Data), t.Shape)
	}
	return t.Data[i*per : (i+1)*per], nil
}

// Info makes *Model a Backend: the in-process ONNX Runtime session.
func (m *Model) Info() BackendInfo {
	return BackendInfo{Meta: m.Meta, Digest: m.Digest, MaxBatch: m.fixedBatch, Provider: m.Provider, Where: "onnxruntime/" + m.Provider}
}

// Infer runs the session on n clips and returns its outputs by name: "logits" for a
// classifier, the heads of a single-stage detection model, an RoI model's actions with the
// boxes it was given (see OutputRoIs). ctx is not consulted: an ONNX Runtime call cannot be
// interrupted, and it ends by itself.
func (m *Model) Infer(_ context.Context, clips []float32, n int) (Outputs, error) {
	o := m.newRunOutputs(n)
	if err := m.runOutputs(clips, n, o); err != nil {
		return nil, err
	}
	return o.named(m), nil
}

// ReadContract reads a model file's contract without ONNX Runtime, and its digest: what a
// remote backend serving the same file is checked against.
func ReadContract(path string) (Metadata, string, error) {
	b, digest, err := readModelFile(path)
	if err != nil {
		return Metadata{}, "", err
	}
	mf, err := inspect(path, b)
	if err != nil {
		return Metadata{}, "", err
	}
	return mf.meta, digest, nil
}
