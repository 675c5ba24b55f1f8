package kserve

import (
	"context"
	"fmt"
	"slices"

	"github.com/actionstream/actionstream/infer"
)

// Backend is an infer.Backend that scores batches on a KServe v2 server. The model contract
// (labels, T, τ, S, normalisation) comes from the same ONNX file the server was given, read
// locally; the server's own metadata must agree with it.
type Backend struct {
	c       *Client
	cfg     Config
	info    infer.BackendInfo
	outputs []string // the served model's outputs, in its order
}

// Input and output names of the model contract.
const (
	inputClip = "clip"
)

// NewBackend checks that the server is live, that the model is ready and that its inputs and
// outputs fit meta (the model file's contract, digest its file's), then returns the backend.
// Each failure says which, with the server's answer: ErrUnreachable, ErrNotLive, ErrNotReady,
// ErrContract, or ErrRejected/ErrServer for an error answer.
func NewBackend(ctx context.Context, cfg Config, meta infer.Metadata, digest string) (*Backend, error) {
	c, err := NewClient(cfg.URL, cfg.Timeout.D(), nil)
	if err != nil {
		return nil, err
	}
	if err := c.ServerLive(ctx); err != nil {
		return nil, err
	}
	if err := c.ModelReady(ctx, cfg.Model, cfg.Version); err != nil {
		return nil, err
	}
	md, err := c.ModelMetadata(ctx, cfg.Model, cfg.Version)
	if err != nil {
		return nil, err
	}
	fixed, err := checkContract(md, meta)
	if err != nil {
		return nil, fmt.Errorf("%s model %q: %w", cfg.URL, cfg.Model, err)
	}
	b := &Backend{c: c, cfg: cfg, info: infer.BackendInfo{Meta: meta, Digest: digest, MaxBatch: fixed, Provider: "kserve", Where: "kserve " + c.at(modelPath(cfg.Model, cfg.Version))}}
	for _, o := range md.Outputs {
		b.outputs = append(b.outputs, o.Name)
	}
	return b, nil
}

// checkContract compares the served model with the contract: input clip FP32 [N,3,T,S,S] and
// output logits FP32 [N,C], N variable (-1) or fixed (returned; 0 for variable).
func checkContract(md ModelMetadata, meta infer.Metadata) (int, error) {
	in := find(md.Inputs, inputClip)
	if in == nil {
		return 0, fmt.Errorf("%w: no input %q (inputs: %s)", ErrContract, inputClip, tensorNames(md.Inputs))
	}
	s := int64(meta.CropSize)
	wantIn := []int64{-1, 3, int64(meta.Frames), s, s}
	if in.Datatype != DatatypeFP32 || len(in.Shape) != 5 || !slices.Equal(in.Shape[1:], wantIn[1:]) || in.Shape[0] == 0 || in.Shape[0] < -1 {
		return 0, fmt.Errorf("%w: input %q is %s %v, the model file wants %s %v (N = -1 or a fixed batch)", ErrContract, inputClip, in.Datatype, in.Shape, DatatypeFP32, wantIn)
	}
	out := find(md.Outputs, infer.OutputLogits)
	if out == nil {
		return 0, fmt.Errorf("%w: no output %q (outputs: %s)", ErrContract, infer.OutputLogits, tensorNames(md.Outputs))
	}
	wantOut := []int64{in.Shape[0], int64(len(meta.Labels))}
	if out.Datatype != DatatypeFP32 || !slices.Equal(out.Shape, wantOut) {
		return 0, fmt.Errorf("%w: output %q is %s %v, the model file's %d labels want %s %v", ErrContract, infer.OutputLogits, out.Datatype, out.Shape, len(meta.Labels), DatatypeFP32, wantOut)
	}
	return int(max(in.Shape[0], 0)), nil
}

func find(ts []TensorMetadata, name string) *TensorMetadata {
	for i := range ts {
		if ts[i].Name == name {
			return &ts[i]
		}
	}
	return nil
}

func tensorNames(ts []TensorMetadata) string {
	if len(ts) == 0 {
		return "none"
	}
	var s []string
	for _, t := range ts {
		s = append(s, t.Name)
	}
	return fmt.Sprint(s)
}

// Info is the model the server serves, described by the local model file.
func (b *Backend) Info() infer.BackendInfo { return b.info }

// Infer posts n clips as one FP32 tensor [n,3,T,S,S] and returns every output of the answer.
// An answer whose outputs do not have n rows, or lack an output the metadata listed, fails.
func (b *Backend) Infer(ctx context.Context, clips []float32, n int) (infer.Outputs, error) {
	m := b.info.Meta
	clipLen := m.ClipLen()
	if n <= 0 || len(clips) < n*clipLen {
		return nil, fmt.Errorf("%w: %d clips in %d values", infer.ErrBadBatch, n, len(clips))
	}
	s := int64(m.CropSize)
	req := InferRequest{Inputs: []RequestInput{{Name: inputClip, Datatype: DatatypeFP32,
		Shape: []int64{int64(n), 3, int64(m.Frames), s, s}, Data: clips[:n*clipLen]}}}
	resp, err := b.c.Infer(ctx, b.cfg.Model, b.cfg.Version, req)
	if err != nil {
		return nil, err
	}
	outs := make(infer.Outputs, len(resp.Outputs))
	for _, o := range resp.Outputs {
		data, err := o.Float32s()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.info.Where, err)
		}
		if len(o.Shape) == 0 || o.Shape[0] != int64(n) {
			return nil, fmt.Errorf("%w: %s: output %q has shape %v for a batch of %d", ErrProtocol, b.info.Where, o.Name, o.Shape, n)
		}
		outs[o.Name] = infer.Tensor{Shape: o.Shape, Data: data}
	}
	for _, name := range b.outputs {
		if _, ok := outs[name]; !ok {
			return nil, fmt.Errorf("%w: %s: the answer lacks output %q", ErrProtocol, b.info.Where, name)
		}
	}
	return outs, nil
}
