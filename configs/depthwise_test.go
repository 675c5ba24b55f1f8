package configs

import "testing"

// model.runtime.depthwise_kernel: the default is infer's, a bad value is named with its key,
// and the environment sets it like any other key.
func TestDepthwiseKernelKey(t *testing.T) {
	c, err := Parse([]byte("model: {path: m.onnx}"), "t.yaml", nil)
	if err != nil || c.Model.Runtime.DepthwiseKernel != "own" {
		t.Fatalf("default: %q, %v; want own", c.Model.Runtime.DepthwiseKernel, err)
	}
	_, err = Parse([]byte("model: {path: m.onnx, runtime: {depthwise_kernel: fast}}"), "t.yaml", nil)
	if err == nil || err.Error() != `config: model.runtime.depthwise_kernel must be ort, own, own-portable, own-avx2 or own-avx512 (one this CPU has), not "fast"` {
		t.Errorf("bad value: %v", err)
	}
	c, err = Parse([]byte("model: {path: m.onnx}"), "t.yaml", []string{"ACTIONSTREAM_MODEL_RUNTIME_DEPTHWISE_KERNEL=ort"})
	if err != nil || c.Model.Runtime.DepthwiseKernel != "ort" {
		t.Errorf("from the environment: %q, %v; want ort", c.Model.Runtime.DepthwiseKernel, err)
	}
}
