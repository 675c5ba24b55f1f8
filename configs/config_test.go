package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestShippedExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("expected the shipped example YAMLs, got %v (%v)", files, err)
	}
	for _, f := range files {
		cfg, err := Load(f, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(cfg.Streams) == 0 {
			t.Errorf("%s: no streams", f)
		}
	}
	prod, err := Load("production.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !prod.Sinks.Kafka.Enabled || !prod.Sinks.Redis.Enabled || URLKind(prod.Streams[0].URL) != "rtsp" {
		t.Errorf("production.yaml should use RTSP, Kafka and Redis: %+v", prod.Sinks)
	}
	if prod.Events.On != 0.7 || prod.Batcher.MaxWait.D() != 30*time.Millisecond {
		t.Errorf("production values not applied: on=%v max_wait=%v", prod.Events.On, prod.Batcher.MaxWait)
	}
	demo, err := Parse(DemoYAML, "demo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if demo.Sinks.Kafka.Enabled || demo.Sinks.Redis.Enabled || !demo.Sinks.JSONL.Enabled {
		t.Errorf("demo must need neither Kafka nor Redis: %+v", demo.Sinks)
	}
}

func TestEnvOverridesFileAfterDefaults(t *testing.T) {
	y := []byte("model: {path: a.onnx}\nbatcher: {max_batch: 4}\n")
	cfg, err := Parse(y, "t", []string{
		"ACTIONSTREAM_MODEL_PATH=b.onnx",
		"ACTIONSTREAM_BATCHER_MAX_WAIT=15ms",
		"ACTIONSTREAM_SINKS_KAFKA_BROKERS=k1:9092, k2:9092",
		"ACTIONSTREAM_MODEL_RUNTIME_REQUIRE_GPU=true",
		"UNRELATED=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model.Path != "b.onnx" || cfg.Batcher.MaxBatch != 4 || cfg.Batcher.MaxWait.D() != 15*time.Millisecond {
		t.Errorf("override order wrong: %+v %+v", cfg.Model, cfg.Batcher)
	}
	if len(cfg.Sinks.Kafka.Brokers) != 2 || cfg.Sinks.Kafka.Brokers[1] != "k2:9092" || !cfg.Model.Runtime.RequireGPU {
		t.Errorf("list/bool override wrong: %+v", cfg.Sinks.Kafka)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	cases := []struct {
		yaml, env, want string
	}{
		{"model: {path: m.onnx, runtime: {provider: tpu}}", "", "model.runtime.provider"},
		{"model: {path: m.onnx}\nstreams: [{id: a, url: 'http://x'}]", "", "streams[0].url"},
		{"model: {path: m.onnx}\nstreams: [{id: a, url: x.mp4}, {id: a, url: y.mp4}]", "", "streams[1].id"},
		{"model: {path: m.onnx}\nevents: {'on': 0.3, 'off': 0.5}", "", "events.off"},
		{"model: {path: m.onnx}\nsinks: {kafka: {enabled: true}}", "", "sinks.kafka.brokers"},
		{"model: {path: m.onnx}\nbatcher: {max_wait: 40}", "", "duration needs a unit"},
		{"model: {path: m.onnx}\nbatcher: {max_wiat: 40ms}", "", "max_wiat"},
		{"", "", "model.path"},
		{"model: {path: m.onnx}", "ACTIONSTREAM_BATCHER_MAX_BATCH=many", "batcher.max_batch"},
		{"model: {path: m.onnx}", "ACTIONSTREAM_NO_SUCH=1", "no such setting"},
	}
	for _, c := range cases {
		var env []string
		if c.env != "" {
			env = []string{c.env}
		}
		_, err := Parse([]byte(c.yaml), "t.yaml", env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("yaml %q env %q: error %v, want it to mention %q", c.yaml, c.env, err, c.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("want a not-exist error, got %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
