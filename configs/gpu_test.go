package configs

import (
	"slices"
	"strings"
	"testing"

	"github.com/actionstream/actionstream/decode"
	"github.com/actionstream/actionstream/infer"
)

// The GPU example's settings reach the stage types under their YAML names.
func TestGPUExample(t *testing.T) {
	cfg, err := Load("gpu.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := cfg.Model.Runtime
	want := infer.CUDAOptions{ConvAlgoSearch: "exhaustive", CopyInDefaultStream: true}
	if rt.Provider != infer.ProviderCUDA || rt.CUDA != want || !rt.TensorRT.FP16 || rt.TensorRT.EngineCacheDir != "/var/cache/actionstream/trt" {
		t.Errorf("runtime %+v", rt)
	}
	if len(rt.WarmUpBatches) != cfg.Batcher.MaxBatch || !slices.IsSorted(rt.WarmUpBatches) || rt.WarmUpBatches[0] != 1 {
		t.Errorf("warm_up_batches %v: want 1..max_batch (%d)", rt.WarmUpBatches, cfg.Batcher.MaxBatch)
	}
	if cfg.Decode.HWAccel != decode.HWAccelCUDA {
		t.Errorf("decode %+v", cfg.Decode)
	}
	bad := `model: {path: m.onnx, runtime: {cuda: {cudnn_conv_algo_search: fastest}}}
streams: [{id: a, url: a.mp4}]
decode: {hwaccel: vaapi}
`
	_, err = Parse([]byte(bad), "bad.yaml", nil)
	for _, want := range []string{"model.runtime.cuda.cudnn_conv_algo_search", "decode.hwaccel"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad values: error %v lacks %s", err, want)
		}
	}
}
