package configs_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// FuzzLoad runs the config loader (Load reads the file and calls Parse) over arbitrary YAML and
// ACTIONSTREAM_* variables (one per line): no panic, allocation bounded by the input's size, a
// refusal that says it is about the config, and an accepted config that is valid and loads back
// unchanged from its own YAML.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"demo.yaml", "production.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	f.Add(configs.DemoYAML, "ACTIONSTREAM_MODEL_PATH=m.onnx\nACTIONSTREAM_SINKS_KAFKA_BROKERS=a:9092, b:9092\nACTIONSTREAM_WHIP_DISCONNECT_TIMEOUT=2s")
	f.Add([]byte("model: {path: m.onnx}\nstreams:\n  - {id: cam, url: rtsp://h/s, transport: udp}\n"), "ACTIONSTREAM_BATCHER_MAX_BATCH=x")
	f.Add([]byte("model: {path: m.onnx}\nnope: 1\n"), "")
	f.Add([]byte("a: &a [1,1,1,1]\nb: &b [*a,*a,*a,*a]\nc: [*b,*b,*b,*b]\n"), "")
	f.Add([]byte("clipper: {hop: 5}\n"), "ACTIONSTREAM_NOPE=1")
	f.Fuzz(func(t *testing.T, data []byte, env string) {
		environ := strings.Split(env, "\n")
		var cfg configs.Config
		var err error
		alloc := testutil.AllocatedBytes(func() { cfg, err = configs.Parse(data, "fuzz.yaml", environ) })
		if limit := 1<<20 + 256*uint64(len(data)+len(env)); alloc > limit {
			t.Fatalf("loading %d+%d bytes allocated %d (limit %d)", len(data), len(env), alloc, limit)
		}
		if err != nil {
			var fe *configs.FieldError
			if !errors.As(err, &fe) && !strings.HasPrefix(err.Error(), "config") {
				t.Fatalf("error does not name the config or a field: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
		once, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("an accepted config does not marshal: %v", err)
		}
		back, err := configs.Parse(once, "again.yaml", nil)
		if err != nil {
			t.Fatalf("an accepted config, written as YAML, is refused: %v\n%s", err, once)
		}
		twice, err := yaml.Marshal(back)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("the config changed through its own YAML:\n%s\n%s", once, twice)
		}
	})
}
