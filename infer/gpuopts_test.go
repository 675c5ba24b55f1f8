package infer

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestCUDAProviderOptionKeys(t *testing.T) {
	got := DefaultCUDAOptions().providerOptions()
	want := map[string]string{"device_id": "0", "cudnn_conv_algo_search": "EXHAUSTIVE", "do_copy_in_default_stream": "1"}
	if !maps.Equal(got, want) {
		t.Errorf("defaults: %v, want %v", got, want)
	}
	got = CUDAOptions{DeviceID: 2, MemoryLimitMB: 512, ConvAlgoSearch: "heuristic"}.providerOptions()
	want = map[string]string{"device_id": "2", "cudnn_conv_algo_search": "HEURISTIC", "do_copy_in_default_stream": "0", "gpu_mem_limit": "536870912"}
	if !maps.Equal(got, want) {
		t.Errorf("set: %v, want %v", got, want)
	}
	got = TensorRTOptions{EngineCacheDir: "trt-cache", FP16: true, MaxWorkspaceMB: 1024}.providerOptions(1)
	want = map[string]string{"device_id": "1", "trt_fp16_enable": "1", "trt_engine_cache_enable": "1", "trt_engine_cache_path": "trt-cache", "trt_max_workspace_size": "1073741824"}
	if !maps.Equal(got, want) {
		t.Errorf("tensorrt: %v, want %v", got, want)
	}
	if got := (TensorRTOptions{}).providerOptions(0); got["trt_engine_cache_enable"] != "" || got["trt_fp16_enable"] != "0" {
		t.Errorf("tensorrt defaults: %v", got)
	}
}

func TestGPUOptionsValidate(t *testing.T) {
	c := DefaultModelConfig()
	c.Path = "m.onnx"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Runtime.CUDA = CUDAOptions{DeviceID: -1, MemoryLimitMB: -5, ConvAlgoSearch: "fastest"}
	c.Runtime.TensorRT.MaxWorkspaceMB = -1
	c.Runtime.WarmUpBatches = []int{1, 0}
	err := c.Validate()
	if !errors.Is(err, ErrBadOptions) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"runtime.cuda.device_id", "runtime.cuda.memory_limit_mb",
		`runtime.cuda.cudnn_conv_algo_search must be exhaustive, heuristic or default, not "fastest"`,
		"runtime.tensorrt.max_workspace_mb", "runtime.warm_up_batches batch sizes must be >= 1, not 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// Warm-up runs each listed batch size once at Open (tested on the CPU provider) and says so.
func TestWarmUpAtOpen(t *testing.T) {
	log, buf := testLogger()
	r := newRuntime(t, Options{WarmUpBatches: []int{1, 3, 2}, Logger: log})
	m := openModel(t, r, makeModel(t))
	out := buf.String()
	if !strings.Contains(out, `msg="model warmed up"`) || !strings.Contains(out, "batches=\"[1 3 2]\"") || !strings.Contains(out, "provider=cpu") {
		t.Fatalf("log: %s", out)
	}
	took, err := m.WarmUp([]int{4, 1})
	if err != nil || len(took) != 2 || took[0] <= 0 || took[1] <= 0 {
		t.Fatalf("WarmUp: %v %v", took, err)
	}
	if _, err := NewRuntime(Options{WarmUpBatches: []int{0}}); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("warm-up batch 0: %v", err)
	}
}
