package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// The dashboard of a cluster node shows the cluster panel: the node, its state and
// generation, and the cameras it runs, as a browser renders it.
func TestBrowserClusterPanel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and drives a browser")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "actionstream")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := testutil.FreePort(t)
	broker, err := kfake.NewCluster(kfake.Ports(port), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	video := testkit.MakeVideo(t, dir, testkit.Video{FPS: "15", Seconds: 2, Size: "64x48"})
	cfg := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`model: {path: %q, runtime: {threads: 1}}
cluster: {topic: cams, partitions: 4, node: gpu-7, session_timeout: 2s, heartbeat_interval: 300ms, join_backoff: 300ms}
sinks: {kafka: {brokers: ["127.0.0.1:%d"], topic: ev}, jsonl: {enabled: false}}
http: {addr: "127.0.0.1:0"}
whip: {enabled: false}
state_dir: %q
`, testkit.TinyModel(t), port, filepath.Join(dir, "state"))), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"dock-1", "dock-2"} {
		if out, err := exec.Command(bin, "cameras", "add", "--config", cfg, "--id", id, "--url", video, "--loop").CombinedOutput(); err != nil {
			t.Fatalf("cameras add: %v\n%s", err, out)
		}
	}
	node := startServe(t, bin, cfg, "--cluster")
	p := startChromium(t).page(t)
	p.navigate(t, node.base+"/")
	var panel string
	testutil.WaitFor(t, 30*time.Second, func() bool {
		p.eval(t, `(() => { const c = document.querySelector("#cluster"); return c.hidden ? "hidden" : c.innerText.toLowerCase(); })()`, &panel)
		return strings.Contains(panel, "gpu-7 (this node)\t1\t4\tdock-1, dock-2") && strings.Contains(panel, "member · generation 1")
	}, func() string { return "cluster panel: " + strconv.Quote(panel) })
	if !strings.Contains(panel, "this node: gpu-7 · token 1 · 2 cameras") {
		t.Errorf("the panel does not show this node's token: %q", panel)
	}
	p.screenshot(t, filepath.Join(artifactDir(t), "cluster-panel.png"))
}
