package cluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/ingest"
)

// fakeRunner records what a member runs.
type fakeRunner struct {
	mu      sync.Mutex
	streams map[string]ingest.StreamConfig
	token   uint64
	adds    int
}

func newFakeRunner() *fakeRunner { return &fakeRunner{streams: map[string]ingest.StreamConfig{}} }

func (f *fakeRunner) AddStream(sc ingest.StreamConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.streams[sc.ID]; dup {
		return fmt.Errorf("duplicate %s", sc.ID)
	}
	f.streams[sc.ID] = sc
	f.adds++
	return nil
}

func (f *fakeRunner) RemoveStream(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.streams, id)
	return nil
}

func (f *fakeRunner) SetGeneration(t uint64) {
	f.mu.Lock()
	f.token = t
	f.mu.Unlock()
}

func (f *fakeRunner) tokenNow() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.token
}

func (f *fakeRunner) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.streams))
}

func (f *fakeRunner) get(id string) (ingest.StreamConfig, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sc, ok := f.streams[id]
	return sc, ok
}

func startBroker(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.GroupMinSessionTimeout(500 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func testConfig(node string) Config {
	c := DefaultConfig()
	c.Topic, c.Partitions, c.Group, c.Node = "cams", 8, "g", node
	c.SessionTimeout = confkit.Duration(1500 * time.Millisecond)
	c.HeartbeatInterval = confkit.Duration(200 * time.Millisecond)
	c.RebalanceTimeout = confkit.Duration(3 * time.Second)
	c.JoinBackoff = confkit.Duration(200 * time.Millisecond)
	return c
}

func waitUntil(t *testing.T, d time.Duration, what func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := what()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two members share six cameras (one owner each, secrets resolved on the node); an update and
// a removal are applied by the owner while it tails; when one member leaves cleanly the other
// takes its cameras without waiting for the session timeout, and keeps its own running.
func TestMembersShareCameras(t *testing.T) {
	addr := startBroker(t)
	cat, err := NewCatalog(testConfig(""), []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	ctx := context.Background()
	for i := range 6 {
		cam := Camera{ID: fmt.Sprintf("cam%d", i), URL: fmt.Sprintf("rtsp://admin@10.0.0.%d/live", i), PasswordFrom: "env:CAM_PASS"}
		if err := cat.Add(ctx, cam); err != nil {
			t.Fatal(err)
		}
	}
	if err := cat.Add(ctx, Camera{ID: "cam0", URL: "x.mp4"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second add of cam0: %v", err)
	}
	env := func(k string) (string, bool) { return "s3cret", k == "CAM_PASS" }
	runners := []*fakeRunner{newFakeRunner(), newFakeRunner()}
	cancels := make([]context.CancelFunc, 2)
	var wg sync.WaitGroup
	for i, r := range runners {
		m, err := New(Options{Config: testConfig(fmt.Sprintf("n%d", i)), Brokers: []string{addr}, Runner: r, LookupEnv: env})
		if err != nil {
			t.Fatal(err)
		}
		mctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Run(mctx); err != nil {
				t.Error(err)
			}
		}()
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()
	owners := func(want []string) func() string {
		return func() string {
			a, b := runners[0].ids(), runners[1].ids()
			all := slices.Sorted(slices.Values(append(slices.Clone(a), b...)))
			if !slices.Equal(all, want) {
				return fmt.Sprintf("cameras run: n0 %v, n1 %v; want each of %v exactly once", a, b, want)
			}
			return ""
		}
	}
	all := []string{"cam0", "cam1", "cam2", "cam3", "cam4", "cam5"}
	waitUntil(t, 20*time.Second, owners(all))
	waitUntil(t, 10*time.Second, func() string {
		if len(runners[0].ids()) == 0 || len(runners[1].ids()) == 0 {
			return fmt.Sprintf("one member runs nothing: %v / %v", runners[0].ids(), runners[1].ids())
		}
		return ""
	})
	for _, r := range runners {
		for _, id := range r.ids() {
			if sc, _ := r.get(id); !strings.Contains(sc.URL, "admin:s3cret@") {
				t.Errorf("%s runs %s without the resolved secret", id, ingest.Redact(sc.URL))
			}
		}
	}
	if err := cat.Update(ctx, Camera{ID: "cam2", URL: "rtsp://10.0.0.99/live"}); err != nil {
		t.Fatal(err)
	}
	if err := cat.Remove(ctx, "cam5"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, owners([]string{"cam0", "cam1", "cam2", "cam3", "cam4"}))
	waitUntil(t, 10*time.Second, func() string {
		for _, r := range runners {
			if sc, ok := r.get("cam2"); ok && sc.URL != "rtsp://10.0.0.99/live" {
				return "cam2 not updated: " + sc.URL
			}
		}
		return ""
	})
	list, err := cat.List(ctx)
	if err != nil || len(list) != 5 {
		t.Fatalf("list after remove: %v %v", list, err)
	}

	kept := runners[1].ids()
	addsBefore := runners[1].adds
	left := time.Now()
	cancels[0]()
	waitUntil(t, 5*time.Second, func() string {
		if got := runners[1].ids(); len(got) != 5 {
			return fmt.Sprintf("after n0 left, n1 runs %v", got)
		}
		return ""
	})
	if took := time.Since(left); took > 1500*time.Millisecond {
		t.Errorf("clean handover took %v, longer than the session timeout", took)
	}
	if runners[1].adds-addsBefore != 5-len(kept) {
		t.Errorf("n1 restarted cameras it kept: %d adds for %d new cameras", runners[1].adds-addsBefore, 5-len(kept))
	}
}
