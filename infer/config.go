package infer

import (
	"log/slog"
	"time"

	"github.com/actionstream/actionstream/confkit"
)

// ModelConfig is the `model` section: which ONNX model, and how ONNX Runtime runs it.
type ModelConfig struct {
	Path    string  `yaml:"path"`
	Runtime Options `yaml:"runtime"`
}

// Options configure a Runtime (the `model.runtime` section).
type Options struct {
	// LibraryPath is the ONNX Runtime shared library; "" means LibraryPath("") discovery.
	// It is used for every provider when set.
	LibraryPath string `yaml:"library"`
	// GPULibraryPath is the GPU build of ONNX Runtime used for the cuda and tensorrt
	// providers when LibraryPath is not set; "" means GPULibraryPath("") discovery
	// (third_party/onnxruntime-gpu from scripts/setup --gpu). Not found: the CPU
	// library with a warning, or ErrNoGPU with RequireGPU.
	GPULibraryPath string `yaml:"gpu_library"`
	// Threads is ONNX Runtime's intra-op thread count per model; 0 = ORT's default (one per core).
	Threads int `yaml:"threads"`
	// Provider is "cpu" (default), "cuda" or "tensorrt" (TensorRT falls back to CUDA for
	// nodes it cannot take). When the library lacks the provider, the runtime falls back
	// to the next one (tensorrt -> cuda -> cpu) with a warning.
	Provider string `yaml:"provider"`
	// RequireGPU turns a fallback to cpu into an ErrNoGPU error.
	RequireGPU bool `yaml:"require_gpu"`
	// CUDA and TensorRT configure those providers (ignored on cpu). A zero CUDA is
	// DefaultCUDAOptions.
	CUDA     CUDAOptions     `yaml:"cuda"`
	TensorRT TensorRTOptions `yaml:"tensorrt"`
	// WarmUpBatches are batch sizes each model runs once on zero clips when it opens, so
	// the first real batch of each size is not slow (cuDNN's algorithm search, TensorRT's
	// engine build run per input shape). On a GPU list every size the batcher makes:
	// 1..batcher.max_batch. Empty = no warm-up.
	WarmUpBatches []int `yaml:"warm_up_batches"`
	// DepthwiseKernel runs the channel-wise 3×3×3 convolutions on the cpu provider: "own"
	// (default: infer/dwconv, the widest SIMD path this CPU has), "ort" (ONNX Runtime's Conv),
	// or "own-portable", "own-avx2", "own-avx512" to force a path. The model file is not
	// changed; its Conv nodes are swapped when the session is built (on a library the op
	// cannot be added to, they stay on ONNX Runtime's Conv, with a warning). docs/BENCHMARKS.md.
	DepthwiseKernel string `yaml:"depthwise_kernel"`
	// SessionConfig are ONNX Runtime session config entries applied to every model, e.g.
	// "session.intra_op.allow_spinning": "0" so idle ORT threads stop spinning on cores
	// the decoders need between batches.
	SessionConfig map[string]string `yaml:"-"`
	// LoadInBackground loads the library and starts its environment on another goroutine
	// (cpu provider only; others resolve their fallback first): NewRuntime returns once the
	// library file is found, and whatever needs ONNX Runtime waits for it. `run` decodes
	// its first frames meanwhile.
	LoadInBackground bool `yaml:"-"`
	// Logger receives warnings (provider fallback); nil = slog.Default().
	Logger *slog.Logger `yaml:"-"`
}

// DefaultModelConfig is the `model` section's defaults (no path: it is required).
func DefaultModelConfig() ModelConfig {
	return ModelConfig{Runtime: Options{Provider: ProviderCPU, CUDA: DefaultCUDAOptions(), DepthwiseKernel: DefaultDepthwiseKernel}}
}

// Validate checks the section; errors name the field by its YAML key.
func (c ModelConfig) Validate() error {
	p := confkit.Problems{Sentinel: ErrBadOptions}
	if c.Path == "" {
		p.Add("path", "is required")
	}
	switch c.Runtime.Provider {
	case ProviderCPU, ProviderCUDA, ProviderTensorRT:
	default:
		p.Add("runtime.provider", "must be cpu, cuda or tensorrt, not %q", c.Runtime.Provider)
	}
	if c.Runtime.Threads < 0 {
		p.Add("runtime.threads", "must be >= 0")
	}
	if _, _, err := depthwisePath(c.Runtime.DepthwiseKernel); err != nil {
		p.Add("runtime.depthwise_kernel", "must be ort, own, own-portable, own-avx2 or own-avx512 (one this CPU has), not %q", c.Runtime.DepthwiseKernel)
	}
	c.Runtime.CUDA.validate(p.Add)
	c.Runtime.TensorRT.validate(p.Add)
	for _, n := range c.Runtime.WarmUpBatches {
		if n < 1 {
			p.Add("runtime.warm_up_batches", "batch sizes must be >= 1, not %d", n)
			break
		}
	}
	return p.Err()
}

// BatcherConfig configures a Batcher (the `batcher` section).
type BatcherConfig struct {
	// MaxBatch is the most clips per model call; a batch is flushed as soon as this many
	// streams have a clip waiting. 0 = default; a model with a fixed batch size caps it (and
	// then every call is padded to that size).
	MaxBatch int `yaml:"max_batch"`
	// MaxPending is how many clips of one stream may wait for inference. A clip arriving
	// when its stream has that many waiting pushes the oldest out (counted as stale). 1 is
	// latest-wins; the default 2 rides out a model call longer than one hop (a burst of
	// CPU contention) without losing a clip, at the price of one more waiting clip tensor per
	// stream. 0 = default.
	MaxPending int `yaml:"max_pending"`
	// MaxWait is the longest the oldest waiting clip waits for others. 0 = default. Lower
	// trades batching (throughput with many streams) for latency with few.
	MaxWait confkit.Duration `yaml:"max_wait"`
	// Workers is how many model calls may run at once, each on its own thread (with the
	// session's intra-op threads); results are still delivered one at a time, in the order
	// the batches were taken. 0 = 1 (`run` picks its own: docs/OPERATIONS.md).
	Workers int `yaml:"workers"`
	// Nice, when above 0, runs every model call on an OS thread of its own, that many nice
	// steps below the process's priority (Linux; elsewhere ignored), so a decoder sharing the
	// cores gets them first and model calls take what it leaves: `run` sets it
	// (docs/OPERATIONS.md). 0 = unchanged.
	Nice int `yaml:"-"`
	// OnBatch, if set, is called after every model call (from the Run goroutine) with the
	// batch size, the call's duration and its error: the hook for metrics histograms.
	OnBatch func(size int, infer time.Duration, err error) `yaml:"-"`
	// Detection is how a detection model's outputs become actors (the `detection` section,
	// set by the caller); zero = defaults, unused for classification.
	Detection DetectionConfig `yaml:"-"`
	// Logger; nil = slog.Default().
	Logger *slog.Logger `yaml:"-"`
}

// DefaultBatcherConfig is the one definition of the batcher's defaults.
func DefaultBatcherConfig() BatcherConfig {
	return BatcherConfig{MaxBatch: 8, MaxPending: 2, MaxWait: confkit.Duration(40 * time.Millisecond)}
}

// maxWorkers bounds batcher.workers: each holds a batch's input and its own activations.
const maxWorkers = 64

// WithDefaults replaces zero MaxBatch, MaxPending, MaxWait, Workers and Logger by their defaults.
func (c BatcherConfig) WithDefaults() BatcherConfig {
	d := DefaultBatcherConfig()
	if c.MaxBatch == 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.MaxPending == 0 {
		c.MaxPending = d.MaxPending
	}
	if c.MaxWait == 0 {
		c.MaxWait = d.MaxWait
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate checks the section; errors name the field by its YAML key.
func (c BatcherConfig) Validate() error {
	p := confkit.Problems{Sentinel: ErrBadOptions}
	if c.MaxBatch < 0 {
		p.Add("max_batch", "must be >= 1 (0 = default), not %d", c.MaxBatch)
	}
	if c.MaxPending < 0 {
		p.Add("max_pending", "must be >= 1 (0 = default), not %d", c.MaxPending)
	}
	if c.MaxWait < 0 {
		p.Add("max_wait", "must be > 0 (0 = default), not %v", c.MaxWait)
	}
	if c.Nice < 0 || c.Nice > 39 {
		p.Add("nice", "must be 0 to 39, not %d", c.Nice)
	}
	if c.Workers < 0 || c.Workers > maxWorkers {
		p.Add("workers", "must be 1 to %d (0 = 1), not %d", maxWorkers, c.Workers)
	}
	return p.Err()
}
