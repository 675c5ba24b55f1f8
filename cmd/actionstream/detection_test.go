package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/infer/detect"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// `run` with a detection model needs no other file: clip.scored lines list the actors, action
// lines carry actor_id and box.
func TestRunDetectionModel(t *testing.T) {
	video := testkit.TwoActors{}
	path := video.Make(t, t.TempDir(), 4)
	var stdout, stderr bytes.Buffer
	if code := runMain(context.Background(), []string{"run", "--model", testkit.DetectionModel(t, testkit.DetectionSingleStage), "--input", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var scored, actions int
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		e, err := events.ParseJSON([]byte(line))
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		switch e.Type {
		case events.TypeClipScored:
			scored++
			if len(e.Data.Actors) != 2 || e.Data.KeyPTS == nil {
				t.Errorf("clip.scored without its two actors: %s", line)
			}
		case events.TypeActionStarted, events.TypeActionEnded:
			actions++
			if e.Data.ActorID == "" || e.Data.Box == nil {
				t.Fatalf("%s without actor_id/box: %s", e.Type, line)
			}
			truth := video.Truth(int(math.Round(*e.Data.KeyPTS * 30)))[e.Data.Label]
			if iou := detect.IoU(detect.Box{e.Data.Box.X1, e.Data.Box.Y1, e.Data.Box.X2, e.Data.Box.Y2}, truth); iou < 0.5 {
				t.Errorf("%s box IoU %.2f with the true %s actor: %s", e.Type, iou, e.Data.Label, line)
			}
		}
	}
	if scored < 5 || actions != 4 {
		t.Errorf("%d clip.scored and %d started/ended lines, want >= 5 and 4 (two actors)\n%s", scored, actions, stdout.String())
	}
}

// An RoI model without a person detector: exit 1 and a line that says what is missing.
func TestRunRoIModelWithoutPersonDetector(t *testing.T) {
	path := testkit.TwoActors{}.Make(t, t.TempDir(), 1)
	var stdout, stderr bytes.Buffer
	code := runMain(context.Background(), []string{"run", "--model", testkit.DetectionModel(t, testkit.DetectionRoI), "--input", path}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "is an RoI detection model") || !strings.Contains(stderr.String(), "person detector") {
		t.Fatalf("exit %d, stderr %q; want 1 and the missing person detector named", code, stderr.String())
	}
}

// The dashboard draws the actors' boxes and labels on the live thumbnail (read from the DOM of a
// real Chromium), where /api/streams says they are.
func TestBrowserDashboardDrawsActors(t *testing.T) {
	video := testkit.TwoActors{}
	dir := t.TempDir()
	path := video.Make(t, dir, 6)
	cfgPath := filepath.Join(dir, "serve.yaml")
	cfg := fmt.Sprintf(`model: {path: %q, runtime: {threads: 1}}
streams: [{id: cam, url: %q, loop: true}]
events: {min_duration: 0s}
http: {addr: "127.0.0.1:0"}
whip: {enabled: false}
web: {token: %q}
state_dir: %q
shutdown_timeout: 20s
`, testkit.DetectionModel(t, testkit.DetectionSingleStage), path, dashToken, filepath.Join(dir, "state"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &testutil.SyncBuffer{}
	done := make(chan int, 1)
	go func() { done <- runMain(ctx, []string{"serve", "--config", cfgPath}, io.Discard, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d:\n%s", code, stderr.String())
			}
		case <-time.After(40 * time.Second):
			t.Errorf("serve did not stop:\n%s", stderr.String())
		}
	})
	var base string
	addrRE := regexp.MustCompile(`msg="http listening".*addr=(127\.0\.0\.1:\d+)`)
	testutil.WaitFor(t, 30*time.Second, func() bool {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			base = "http://" + m[1]
			return true
		}
		return false
	}, func() string { return "no listening line in:\n" + stderr.String() })

	// /api/streams lists the current actors.
	type apiActor struct {
		ID    string     `json:"actor_id"`
		Box   events.Box `json:"box"`
		Label string     `json:"label"`
	}
	var actors []apiActor
	testutil.WaitFor(t, 30*time.Second, func() bool {
		resp, err := dashGet(base + "/api/streams")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var api struct {
			Streams []struct {
				Actors []apiActor `json:"actors"`
			} `json:"streams"`
		}
		if json.NewDecoder(resp.Body).Decode(&api) != nil || len(api.Streams) != 1 {
			return false
		}
		actors = api.Streams[0].Actors
		return len(actors) == 2
	}, func() string { return fmt.Sprintf("actors %+v\n%s", actors, stderr.String()) })
	for _, a := range actors {
		if a.ID == "" || (a.Label != "wave" && a.Label != "walk") || !(a.Box.X2 > a.Box.X1) {
			t.Errorf("api actor %+v", a)
		}
	}

	br := startChromium(t)
	dash := br.page(t)
	dash.signIn(t, base, "/")
	type drawn struct {
		Label  string  `json:"label"`
		Text   string  `json:"text"`
		Left   float64 `json:"left"` // fractions of the frame, as drawn
		Top    float64 `json:"top"`
		Width  float64 `json:"width"`
		ThumbW int     `json:"thumbW"`
	}
	var boxes []drawn
	testutil.WaitFor(t, 30*time.Second, func() bool {
		dash.eval(t, `(() => {
			const c = document.querySelector('.card[data-stream="cam"]');
			if (!c) return [];
			const f = c.querySelector(".frame").getBoundingClientRect();
			return [...c.querySelectorAll(".actor")].map(a => { const r = a.getBoundingClientRect();
				return {label: a.dataset.label, text: a.querySelector(".label").textContent,
					left: (r.left - f.left) / f.width, top: (r.top - f.top) / f.height, width: r.width / f.width,
					thumbW: c.querySelector(".thumb").naturalWidth}; });
		})()`, &boxes)
		return len(boxes) == 2 && boxes[0].ThumbW > 0
	}, func() string { return fmt.Sprintf("drawn boxes %+v", boxes) })
	dash.screenshot(t, filepath.Join(artifactDir(t), "dashboard-actors.png"))
	labels := map[string]drawn{}
	for _, b := range boxes {
		labels[b.Label] = b
		if !strings.Contains(b.Text, b.Label) || !strings.HasPrefix(b.Text, "#") {
			t.Errorf("box label %q does not read '#<id> %s'", b.Text, b.Label)
		}
	}
	// The red actor runs along the top, the blue one along the bottom: y is fixed, x moves.
	wave, walk := labels["wave"], labels["walk"]
	if math.Abs(wave.Top-10.0/96) > 0.04 || math.Abs(walk.Top-60.0/96) > 0.04 {
		t.Errorf("boxes drawn at top %.3f (wave) and %.3f (walk), want %.3f and %.3f", wave.Top, walk.Top, 10.0/96, 60.0/96)
	}
	if math.Abs(wave.Width-24.0/160) > 0.03 || math.Abs(walk.Width-20.0/160) > 0.03 {
		t.Errorf("boxes drawn %.3f and %.3f wide, want %.3f and %.3f", wave.Width, walk.Width, 24.0/160, 20.0/160)
	}
	if wave.Left < 30.0/160 || wave.Left > 0.75 || walk.Left < 30.0/160 || walk.Left > 0.75 {
		t.Errorf("boxes drawn at x %.3f and %.3f, outside the actors' paths", wave.Left, walk.Left)
	}
	if resp, err := http.Get(base + "/api/streams"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("/api/streams without the token: %s", resp.Status)
		}
	}
}
