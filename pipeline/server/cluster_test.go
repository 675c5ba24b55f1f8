package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// The cameras API (with the dashboard's credentials) writes the topic, the node picks the
// cameras up, and /api/cluster shows it as the group's one member with its cameras.
func TestClusterAPI(t *testing.T) {
	broker, err := kfake.NewCluster(kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	video := testkit.MakeVideo(t, t.TempDir(), testkit.Video{FPS: "15", Seconds: 2, Size: "64x48"})
	addr := served(t, func(c *configs.Config) {
		c.Cluster.Enabled, c.Cluster.Brokers, c.Cluster.Node, c.Cluster.Partitions = true, broker.ListenAddrs(), "n1", 4
		c.Cluster.SessionTimeout, c.Cluster.HeartbeatInterval = configs.Duration(time.Second), configs.Duration(200*time.Millisecond)
		c.Cluster.JoinBackoff = configs.Duration(200 * time.Millisecond)
	})
	base := "http://" + addr
	c := noRedirects()
	auth := map[string]string{"Authorization": "Bearer " + webToken, "Content-Type": "application/json"}
	if r := request(t, c, "GET", base+"/api/cluster", nil, nil); r.code != http.StatusUnauthorized {
		t.Errorf("/api/cluster without the token: %d", r.code)
	}
	if r := request(t, c, "POST", base+"/api/cameras", map[string]string{"Content-Type": "application/json"}, strings.NewReader(`{}`)); r.code != http.StatusUnauthorized {
		t.Errorf("camera write without the token: %d", r.code)
	}
	for _, w := range []struct {
		method, path string
		hdr          map[string]string
		body         string
		code         int
		says         string
	}{
		{"POST", "/api/cameras", map[string]string{"Authorization": "Bearer " + webToken, "Content-Type": "text/plain"}, `{"id":"x","url":"a.mp4"}`, 415, "application/json"},
		{"POST", "/api/cameras", auth, `{"id":"cam1","url":"rtsp://admin:hunter2@10.0.0.1/live"}`, 400, "password_from"},
		{"POST", "/api/cameras", auth, `{"id":"cam1","url":"ftp://x"}`, 400, "scheme"},
		{"POST", "/api/cameras", auth, `{"id":"cam1","url":"` + video + `","loop":true}`, 201, `"id":"cam1"`},
		{"POST", "/api/cameras", auth, `{"id":"cam1","url":"` + video + `"}`, 409, "already exists"},
		{"POST", "/api/cameras", auth, `{"id":"cam2","url":"` + video + `","loop":true}`, 201, ""},
		{"PUT", "/api/cameras/cam9", auth, `{"url":"` + video + `"}`, 404, "no such camera"},
		{"PUT", "/api/cameras/cam2", auth, `{"id":"cam3","url":"` + video + `"}`, 400, "not the path's"},
		{"PUT", "/api/cameras/cam2", auth, `{"url":"` + video + `","loop":true,"stall_timeout":"4s"}`, 200, `"stall_timeout":"4s"`},
		{"DELETE", "/api/cameras/cam9", auth, "", 404, "no such camera"},
		{"POST", "/api/cameras", auth, `{"id":"locked","url":"rtsp://admin@127.0.0.1:1/live","password_from":"env:ACTIONSTREAM_TEST_UNSET_PASS"}`, 201, ""},
	} {
		r := request(t, c, w.method, base+w.path, w.hdr, strings.NewReader(w.body))
		if r.code != w.code || !strings.Contains(r.body, w.says) {
			t.Errorf("%s %s %s: %d %q, want %d mentioning %q", w.method, w.path, w.body, r.code, r.body, w.code, w.says)
		}
		if strings.Contains(r.body, "hunter2") {
			t.Errorf("the reply shows the password: %s", r.body)
		}
	}
	r := request(t, c, "GET", base+"/api/cameras", auth, nil)
	if r.code != 200 || strings.Count(r.body, `"id"`) != 3 {
		t.Fatalf("/api/cameras: %d %s", r.code, r.body)
	}
	var view struct {
		Self struct {
			Node, State string
			Cameras     []string
			Generation  int32
			Failed      map[string]string
		}
		Nodes []struct {
			Node    string
			Cameras []string
			Self    bool
		}
		Cameras int
	}
	testutil.WaitFor(t, 20*time.Second, func() bool {
		r = request(t, c, "GET", base+"/api/cluster", auth, nil)
		if r.code != 200 || json.Unmarshal([]byte(r.body), &view) != nil {
			return false
		}
		return view.Self.State == "member" && len(view.Self.Cameras) == 2 && len(view.Nodes) == 1 && len(view.Nodes[0].Cameras) == 3 &&
			view.Self.Failed["locked"] != ""
	}, func() string { return "/api/cluster: " + r.body })
	// A camera whose secret this node lacks is not started, and says why.
	if why := view.Self.Failed["locked"]; !strings.Contains(why, "environment variable ACTIONSTREAM_TEST_UNSET_PASS is not set on this node") {
		t.Errorf("the camera without its secret: %q", why)
	}
	if !view.Nodes[0].Self || view.Nodes[0].Node != "n1" || view.Cameras != 3 {
		t.Errorf("/api/cluster: %s", r.body)
	}
	testutil.WaitFor(t, 20*time.Second, func() bool {
		r = request(t, c, "GET", base+"/api/streams", auth, nil)
		return strings.Count(r.body, `"status":"up"`) == 2
	}, func() string { return "/api/streams: " + r.body })
	if r := request(t, c, "DELETE", base+"/api/cameras/cam1", auth, nil); r.code != http.StatusNoContent {
		t.Errorf("DELETE cam1: %d %s", r.code, r.body)
	}
	testutil.WaitFor(t, 20*time.Second, func() bool {
		r = request(t, c, "GET", base+"/api/streams", auth, nil)
		return !strings.Contains(r.body, `"id":"cam1"`) && strings.Contains(r.body, `"id":"cam2"`)
	}, func() string { return "the removed camera still runs: " + r.body })
	m := request(t, c, "GET", base+"/metrics", auth, nil)
	for _, want := range []string{"actionstream_cluster_owned_cameras 1", "actionstream_cluster_in_generation 1", "actionstream_cluster_rebalances_total 1",
		"actionstream_cluster_failed_cameras 1"} {
		if !strings.Contains(m.body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if page := request(t, c, "GET", base+"/", auth, nil); !strings.Contains(page.body, `id="cluster"`) {
		t.Error("the dashboard has no cluster panel")
	}
}
