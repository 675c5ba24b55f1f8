package infer

import "errors"

// Sentinel errors. Callers test with errors.Is; the wrapped message names the file and the fault.
var (
	// ErrNotONNX: the file is not an ONNX ModelProto (not protobuf, or no graph).
	ErrNotONNX = errors.New("not an ONNX model")
	// ErrNoMetadata: a required actionstream.* metadata key is missing.
	ErrNoMetadata = errors.New("missing model metadata")
	// ErrBadMetadata: a metadata key is present but its value is malformed or out of range.
	ErrBadMetadata = errors.New("bad model metadata")
	// ErrSchemaVersion: actionstream.schema_version is a version this build does not know.
	ErrSchemaVersion = errors.New("unsupported model schema version")
	// ErrBadInput: no float32 `clip` input of shape [N,3,T,S,S] matching the metadata.
	ErrBadInput = errors.New("bad model input")
	// ErrBadOutput: no float32 `logits` output of shape [N,C] matching the labels.
	ErrBadOutput = errors.New("bad model output")

	// ErrNoLibrary: the ONNX Runtime shared library was not found.
	ErrNoLibrary = errors.New("onnx runtime library not found")
	// ErrLibraryMismatch: the process already runs a different ONNX Runtime library
	// (the environment is process-global; one library per process).
	ErrLibraryMismatch = errors.New("onnx runtime already initialised with another library")
	// ErrNoGPU: a GPU provider was requested with RequireGPU and the library cannot provide it.
	ErrNoGPU = errors.New("gpu execution provider unavailable")
	// ErrNoProvider: the ONNX Runtime library has no file for the GPU provider (a CPU-only build).
	ErrNoProvider = errors.New("gpu provider library absent")
	// ErrGPULibraries: the GPU provider's file is there but CUDA/cuDNN/TensorRT libraries it
	// needs are not on the loader's path; the message names them and how to get them.
	ErrGPULibraries = errors.New("cuda libraries missing")
	// ErrBadOptions: an option value is invalid (unknown provider, negative threads, ...).
	ErrBadOptions = errors.New("bad infer options")

	// ErrClosed: the Runtime, Model or Batcher is closed.
	ErrClosed = errors.New("infer: closed")
	// ErrBadBatch: Run got an input whose length does not match n clips of the model's shape.
	ErrBadBatch = errors.New("bad batch")
	// ErrBatcherRunning: Run was called on a batcher that is running or has run.
	ErrBatcherRunning = errors.New("infer: batcher already running")
	// ErrNoBoxSource: an RoI detection model was run without a BoxSource (a person detector or a
	// single-stage model) to give it its actors.
	ErrNoBoxSource = errors.New("an RoI detection model needs a box source (a person detector)")
	// ErrClipShape: a submitted clip's frames/size do not match the model.
	ErrClipShape = errors.New("clip shape does not match model")
)
