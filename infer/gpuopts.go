package infer

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// CUDAOptions are the CUDA execution provider's settings (`model.runtime.cuda`); also used
// for the nodes TensorRT hands to CUDA.
type CUDAOptions struct {
	DeviceID int `yaml:"device_id"`
	// MemoryLimitMB caps ORT's CUDA memory arena; 0 = no cap.
	MemoryLimitMB int `yaml:"memory_limit_mb"`
	// ConvAlgoSearch is cuDNN's convolution algorithm search: exhaustive (best kernels, a
	// slow first run per input shape: see warm_up_batches), heuristic or default.
	ConvAlgoSearch string `yaml:"cudnn_conv_algo_search"`
	// CopyInDefaultStream copies inputs/outputs on the compute stream (ORT's default);
	// false gives copies their own stream so they can overlap compute.
	CopyInDefaultStream bool `yaml:"copy_in_default_stream"`
}

// TensorRTOptions are the TensorRT execution provider's settings (`model.runtime.tensorrt`).
type TensorRTOptions struct {
	// EngineCacheDir keeps built engines across restarts ("" = rebuild at every start,
	// which takes minutes for an X3D).
	EngineCacheDir string `yaml:"engine_cache_dir"`
	// FP16 lets TensorRT pick float16 kernels for a float32 model.
	FP16 bool `yaml:"fp16"`
	// MaxWorkspaceMB is TensorRT's builder workspace; 0 = ORT's default.
	MaxWorkspaceMB int `yaml:"max_workspace_mb"`
}

// Conv algorithm searches.
var convAlgoSearches = map[string]string{"exhaustive": "EXHAUSTIVE", "heuristic": "HEURISTIC", "default": "DEFAULT"}

// DefaultCUDAOptions are ORT's own defaults, written out.
func DefaultCUDAOptions() CUDAOptions {
	return CUDAOptions{ConvAlgoSearch: "exhaustive", CopyInDefaultStream: true}
}

func (c CUDAOptions) validate(add func(field, format string, args ...any)) {
	if c.DeviceID < 0 {
		add("runtime.cuda.device_id", "must be >= 0")
	}
	if c.MemoryLimitMB < 0 {
		add("runtime.cuda.memory_limit_mb", "must be >= 0 (0 = no cap)")
	}
	if _, ok := convAlgoSearches[c.ConvAlgoSearch]; !ok {
		add("runtime.cuda.cudnn_conv_algo_search", "must be exhaustive, heuristic or default, not %q", c.ConvAlgoSearch)
	}
}

func (t TensorRTOptions) validate(add func(field, format string, args ...any)) {
	if t.MaxWorkspaceMB < 0 {
		add("runtime.tensorrt.max_workspace_mb", "must be >= 0 (0 = ORT's default)")
	}
}

// providerOptions is c in ORT's CUDA provider option keys.
func (c CUDAOptions) providerOptions() map[string]string {
	algo := convAlgoSearches[c.ConvAlgoSearch]
	if algo == "" {
		algo = "EXHAUSTIVE"
	}
	m := map[string]string{
		"device_id":                 strconv.Itoa(c.DeviceID),
		"cudnn_conv_algo_search":    algo,
		"do_copy_in_default_stream": boolOpt(c.CopyInDefaultStream),
	}
	if c.MemoryLimitMB > 0 {
		m["gpu_mem_limit"] = strconv.FormatInt(int64(c.MemoryLimitMB)<<20, 10)
	}
	return m
}

// providerOptions is t in ORT's TensorRT provider option keys, on CUDA's device.
func (t TensorRTOptions) providerOptions(device int) map[string]string {
	m := map[string]string{"device_id": strconv.Itoa(device), "trt_fp16_enable": boolOpt(t.FP16)}
	if t.EngineCacheDir != "" {
		m["trt_engine_cache_enable"] = "1"
		m["trt_engine_cache_path"] = t.EngineCacheDir
	}
	if t.MaxWorkspaceMB > 0 {
		m["trt_max_workspace_size"] = strconv.FormatInt(int64(t.MaxWorkspaceMB)<<20, 10)
	}
	return m
}

func boolOpt(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// WarmUp runs the model once on zero clips at each batch size (a fixed-batch model: its
// one size) and returns how long each took. On a GPU the first call at a new input shape
// pays for cuDNN's algorithm search or TensorRT's engine build; doing it at start keeps
// that out of the first real batches.
func (m *Model) WarmUp(sizes []int) ([]time.Duration, error) {
	var took []time.Duration
	maxN := 0
	for _, n := range sizes {
		maxN = max(maxN, n)
	}
	if m.fixedBatch > 0 {
		sizes, maxN = []int{m.fixedBatch}, m.fixedBatch
	}
	in := make([]float32, maxN*m.clipLen)
	out := make([]float32, maxN*m.classes)
	for _, n := range sizes {
		start := time.Now()
		if err := m.RunInto(in, n, out); err != nil {
			return took, fmt.Errorf("infer: warm-up at batch %d: %w", n, err)
		}
		took = append(took, time.Since(start))
	}
	return took, nil
}

func durations(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Round(time.Microsecond).String()
	}
	return strings.Join(s, ",")
}

// newProviderOptions makes ORT's option objects for provider p from the runtime's settings.
func (r *Runtime) appendProvider(so *ort.SessionOptions, p string) error {
	switch p {
	case ProviderTensorRT:
		t, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return err
		}
		defer t.Destroy()
		if err := t.Update(r.trt.providerOptions(r.cuda.DeviceID)); err != nil {
			return fmt.Errorf("tensorrt options: %w", err)
		}
		if err := so.AppendExecutionProviderTensorRT(t); err != nil {
			return err
		}
		// Nodes TensorRT cannot take go to CUDA rather than the CPU.
		return r.appendProvider(so, ProviderCUDA)
	case ProviderCUDA:
		c, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return err
		}
		defer c.Destroy()
		if err := c.Update(r.cuda.providerOptions()); err != nil {
			return fmt.Errorf("cuda options: %w", err)
		}
		return so.AppendExecutionProviderCUDA(c)
	}
	return nil
}
