package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// What an operator sees from `cameras …` and `serve --cluster` when something is wrong: the
// exit status and the one stderr line naming the problem.
func TestCamerasCommandErrors(t *testing.T) {
	broker, err := kfake.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	b := []string{"--brokers", broker.ListenAddrs()[0], "--topic", "cams"}
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"cameras", "add", "--url", "a.mp4"}, 2, "--id is required"},
		{[]string{"cameras", "remove"}, 2, "--id is required"},
		{append([]string{"cameras", "add", "--id", "cam1", "--url", "rtsp://u:pw@10.0.0.1/live"}, b...), 1,
			"actionstream cameras: password in plain text: camera \"cam1\": url rtsp://u:xxxxx@10.0.0.1/live"},
		{append([]string{"cameras", "add", "--id", "cam1", "--url", "rtsp://u@10.0.0.1/live", "--password-from", "vault:x"}, b...), 1, "want env:NAME or file:PATH"},
		{append([]string{"cameras", "remove", "--id", "cam9"}, b...), 1, `no such camera: "cam9"`},
		{append([]string{"cameras", "update", "--id", "cam9", "--url", "a.mp4"}, b...), 1, `no such camera: "cam9" (use add)`},
		{append([]string{"cameras", "add", "--id", "cam1", "--url", "a.mp4"}, b...), 0, ""},
		{append([]string{"cameras", "add", "--id", "cam1", "--url", "b.mp4"}, b...), 1, `camera already exists: "cam1" (use update)`},
		{[]string{"cameras", "list", "--brokers", "127.0.0.1:1", "--topic", "cams"}, 1, "127.0.0.1:1"},
	} {
		code, stdout, stderr := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.says) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, c.code, c.says)
		}
		if strings.Contains(stdout+stderr, ":pw@") {
			t.Errorf("%q shows the password: %s%s", c.args, stdout, stderr)
		}
	}
	code, stdout, _ := runCLI(t, append([]string{"cameras", "list"}, b...)...)
	if code != 0 || !strings.Contains(stdout, "cam1") || !strings.Contains(stdout, "a.mp4") {
		t.Errorf("cameras list: exit %d\n%s", code, stdout)
	}

	// serve --cluster with streams in the config: refused before anything starts.
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("model: {path: m.onnx}\nsinks: {kafka: {brokers: [k:9092]}}\nstreams: [{id: a, url: a.mp4}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, stderr := runCLI(t, "serve", "--cluster", "--config", cfg)
	if code != 1 || !strings.Contains(stderr, `streams must be empty in cluster mode: cameras come from the "actionstream.cameras" topic`) {
		t.Errorf("serve --cluster with streams: exit %d\n%s", code, stderr)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the refusal took %v", time.Since(start))
	}
}
