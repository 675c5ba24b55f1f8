package configs

import (
	"strings"
	"testing"
)

// Cluster mode needs brokers and takes its cameras from the topic, never from streams; the
// section can be switched on from the environment.
func TestClusterSection(t *testing.T) {
	base := "model: {path: m.onnx}\n"
	if _, err := Parse([]byte(base+"cluster: {enabled: true}\n"), "a.yaml", nil); err == nil ||
		!strings.Contains(err.Error(), "cluster.brokers are required in cluster mode") {
		t.Errorf("cluster without brokers: %v", err)
	}
	_, err := Parse([]byte(base+"cluster: {enabled: true, brokers: [k:9092]}\nstreams: [{id: a, url: a.mp4}]\n"), "b.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "streams must be empty in cluster mode") {
		t.Errorf("cluster with streams: %v", err)
	}
	_, err = Parse([]byte(base+"cluster: {session_timeout: 1s, heartbeat_interval: 1s, capacity: 0}\n"), "c.yaml", nil)
	for _, want := range []string{"cluster.session_timeout must be at least 3 heartbeat intervals", "cluster.capacity must be >= 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad cluster timings: %v, want %q", err, want)
		}
	}
	cfg, err := Parse([]byte(base+"sinks: {kafka: {brokers: [k:9092]}}\n"), "d.yaml",
		[]string{"ACTIONSTREAM_CLUSTER_ENABLED=true", "ACTIONSTREAM_CLUSTER_NODE=gpu-3", "ACTIONSTREAM_CLUSTER_CAPACITY=4"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Cluster.Enabled || cfg.Cluster.Node != "gpu-3" || cfg.Cluster.Capacity != 4 || cfg.Cluster.Topic != "actionstream.cameras" {
		t.Errorf("cluster from env: %+v", cfg.Cluster)
	}
}
