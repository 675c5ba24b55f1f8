package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/ingest"
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
	if !prod.Sinks.Kafka.Enabled || !prod.Sinks.Redis.Enabled || ingest.URLKind(prod.Streams[0].URL) != ingest.KindRTSP {
		t.Errorf("production.yaml should use RTSP, Kafka and Redis: %+v", prod.Sinks)
	}
	if prod.StateDir != "/var/lib/actionstream/data" || prod.Sinks.Outbox.Fsync != "always" || prod.Sinks.Kafka.Topics.ReplicationFactor != 3 || prod.Sinks.DownGrace.D() != 30*time.Second {
		t.Errorf("production outbox, topics and readiness keys not applied: state_dir %q, outbox %+v, topics %+v", prod.StateDir, prod.Sinks.Outbox, prod.Sinks.Kafka.Topics)
	}
	if d := Default(); d.StateDir != "./data" {
		t.Errorf("default state_dir %q", d.StateDir)
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
		"ACTIONSTREAM_SINKS_REDIS_TTL=2m",
		"ACTIONSTREAM_WHIP_UDP_PORT_MIN=50000",
		"ACTIONSTREAM_WHIP_UDP_PORT_MAX=50010",
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
	// Keys of a stage config inlined into its section, and the WHIP port numbers.
	if cfg.Sinks.Redis.StateTTL.D() != 2*time.Minute || cfg.WHIP.ICE.UDPPortMin != 50000 || cfg.WHIP.ICE.UDPPortMax != 50010 {
		t.Errorf("inline overrides: redis ttl %v, whip ports %d..%d", cfg.Sinks.Redis.StateTTL, cfg.WHIP.ICE.UDPPortMin, cfg.WHIP.ICE.UDPPortMax)
	}
	if _, err := Parse(y, "t", []string{"ACTIONSTREAM_WHIP_UDP_PORT_MIN=70000"}); err == nil || !strings.Contains(err.Error(), "whip.udp_port_min") {
		t.Errorf("out-of-range port from env: %v", err)
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
		{"model: {path: m.onnx}\nstate_dir: ''", "", "state_dir is required"},
		{"model: {path: m.onnx}\nsinks: {outbox: {fsync: sometimes}}", "", "sinks.outbox.fsync"},
		{"model: {path: m.onnx}", "ACTIONSTREAM_SINKS_OUTBOX_HIGH_WATER=2", "sinks.outbox.high_water"},
		{"model: {path: m.onnx}", "ACTIONSTREAM_SINKS_DOWN_GRACE=0s", "sinks.down_grace"},
		{"model: {path: m.onnx}\nmotion: {enabled: true, threshold: 0}", "", "config: motion.threshold must be in (0, 1]"},
		{"model: {path: m.onnx}\nmotion: {streams: {cam-1: {masks: [{x: 0.9, y: 0, w: 0.2, h: 0.1}]}}}", "", "config: motion.streams.cam-1.masks[0] must lie inside the frame"},
		{"model: {path: m.onnx}\nmotion: {streams: {cam-1: {treshold: 0.1}}}", "", "field treshold not found"},
		{"model: {path: m.onnx}", "ACTIONSTREAM_MOTION_NOISE_FLOOR=-3", "config: motion.noise_floor must be in [0, 255)"},
		{"model: {path: m.onnx}\nwhip: {enabled: false}\nstreams: [{id: cam-1, url: a.mp4}]\nmotion: {streams: {cam-2: {}}}", "", "config: motion.streams.cam-2 names no stream of streams[] (and whip is off)"},
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

func TestWHIPAndWebConfig(t *testing.T) {
	d := Default()
	if !d.WHIP.Enabled || d.WHIP.Token != "" || d.WHIP.Open || d.WHIP.MaxSessions != 16 || d.WHIP.DisconnectTimeout.D() != 5*time.Second ||
		len(d.WHIP.Codecs) != 3 || !d.Web.Enabled {
		t.Fatalf("defaults: %+v %+v", d.WHIP, d.Web)
	}
	yml := `model: {path: m.onnx}
whip:
  token: abc
  max_sessions: 4
  disconnect_timeout: 2s
  codecs: [vp8, h264]
  ice_servers:
    - {urls: ["stun:stun.example.net:3478"]}
    - {urls: ["turn:turn.example.net:3478?transport=udp"], username: u, credential: p}
  public_ips: [203.0.113.7]
  udp_port_min: 50000
  udp_port_max: 50100
  tcp_addr: ":8189"
web: {enabled: false}
`
	cfg, err := Parse([]byte(yml), "whip.yaml", []string{"ACTIONSTREAM_WHIP_TOKEN=from-env", "ACTIONSTREAM_WHIP_OPEN=false"})
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.WHIP
	if w.Token != "from-env" || w.MaxSessions != 4 || w.DisconnectTimeout.D() != 2*time.Second || w.Codecs[0] != "vp8" ||
		len(w.ICE.Servers) != 2 || w.ICE.Servers[1].Username != "u" || w.ICE.PublicIPs[0] != "203.0.113.7" ||
		w.ICE.UDPPortMin != 50000 || w.ICE.UDPPortMax != 50100 || w.ICE.TCPAddr != ":8189" || cfg.Web.Enabled {
		t.Fatalf("parsed: %+v web %+v", w, cfg.Web)
	}
	for _, c := range []struct{ yml, path string }{
		{"whip: {max_sessions: -1}", "whip.max_sessions"},
		{"whip: {max_sdp_bytes: 10}", "whip.max_sdp_bytes"},
		{"whip: {disconnect_timeout: 10ms}", "whip.disconnect_timeout"},
		{"whip: {codecs: [h264, av1]}", "whip.codecs[1]"},
		{"whip: {udp_port_min: 5000}", "whip.udp_port_min"},
		{"whip: {udp_port_min: 6000, udp_port_max: 5000}", "whip.udp_port_min"},
		{"whip: {public_ips: [not-an-ip]}", "whip.public_ips[0]"},
		{"whip: {ice_servers: [{urls: [\"http://x\"]}]}", "whip.ice_servers[0].urls[0]"},
		{"whip: {ice_servers: [{username: u}]}", "whip.ice_servers[0].urls"},
		{"whip: {tcp_addr: nonsense}", "whip.tcp_addr"},
	} {
		_, err := Parse([]byte("model: {path: m.onnx}\n"+c.yml), "bad.yaml", nil)
		if err == nil || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: %v, want an error naming %s", c.yml, err, c.path)
		}
	}
	prod, err := Load("production.yaml", nil)
	if err != nil || prod.WHIP.Token == "" || prod.WHIP.ICE.TCPAddr != ":8189" || prod.WHIP.ICE.UDPPortMax != 50199 || !prod.Web.Enabled {
		t.Errorf("production.yaml whip/web: %+v %+v %v", prod.WHIP, prod.Web, err)
	}
	// A disabled endpoint is not validated.
	if _, err := Parse([]byte("model: {path: m.onnx}\nwhip: {enabled: false, max_sessions: 0}"), "off.yaml", nil); err != nil {
		t.Errorf("disabled whip: %v", err)
	}
}

func TestMotionSectionWithStreamOverrides(t *testing.T) {
	y := []byte(`model: {path: m.onnx}
motion:
  enabled: true
  masks: [{x: 0, y: 0, w: 0.4, h: 0.08}]
  streams:
    lobby: {threshold: 0.02, masks: [{x: 0.7, y: 0.2, w: 0.3, h: 0.5}]}
    yard: {enabled: false}
`)
	cfg, err := Parse(y, "t", []string{"ACTIONSTREAM_MOTION_NOISE_FLOOR=14"})
	if err != nil {
		t.Fatal(err)
	}
	lobby, yard, other := cfg.Motion.For("lobby"), cfg.Motion.For("yard"), cfg.Motion.For("gate")
	if !lobby.Enabled || lobby.Threshold != 0.02 || lobby.NoiseFloor != 14 || len(lobby.Masks) != 2 {
		t.Errorf("lobby: %+v", lobby)
	}
	if yard.Enabled || !other.Enabled || other.Threshold != 0.003 || len(other.Masks) != 1 {
		t.Errorf("yard %+v, gate %+v", yard, other)
	}
}
