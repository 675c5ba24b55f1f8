package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/ingest/cluster"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// Cluster timings of the test: short, so the whole run fits in about a minute.
const (
	clusterSession   = 2 * time.Second
	clusterHeartbeat = 300 * time.Millisecond
	clusterCameras   = 12
	clusterParts     = 12
)

// TestClusterFailover is the done-when test of cluster mode: a kfake broker, a real
// redis-server and three `serve --cluster` processes share twelve looping-file cameras
// written with `cameras add`. Every camera has exactly one owner after the start, after a
// kill -9 of a node (within the session timeout + 2 s), after that node comes back (only its
// fair share of partitions moves, all to it) and after a SIGSTOP/SIGCONT of another: the
// paused node's late Redis writes are rejected and its late events carry its old generation.
// Across it all every camera's clip.scored keep coming with no gap longer than the failover
// bound plus one clip span, and every event any node wrote to its JSON-lines file (what it
// emitted) reaches Kafka: the killed node's outbox drains when it returns.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three nodes")
	}
	start := time.Now()
	dir := t.TempDir()
	bin := filepath.Join(dir, "actionstream")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	built := time.Since(start)
	model := testkit.TinyModel(t)
	video := testkit.MakeVideo(t, dir, testkit.Video{FPS: "15", Seconds: 3, Size: "64x48"})
	port := testutil.FreePort(t)
	broker, err := kfake.NewCluster(kfake.Ports(port), kfake.GroupMinSessionTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	kafkaAddr := "127.0.0.1:" + strconv.Itoa(port)
	redis := sinktest.StartRedis(t)
	rc := redis.Client(t)

	config := func(node string) string {
		path := filepath.Join(dir, node+".yaml")
		cfg := fmt.Sprintf(`model: {path: %q, runtime: {threads: 1}}
events: {clip_scored: true}
cluster:
  enabled: true
  topic: cams
  partitions: %d
  group: nodes
  node: %s
  session_timeout: %s
  heartbeat_interval: %s
  rebalance_timeout: 3s
  join_backoff: 300ms
sinks:
  jsonl: {enabled: true, path: %q}
  kafka: {enabled: true, brokers: [%q], topic: ev, clip_topic: clips, batch_timeout: 5ms, write_timeout: 2s}
  redis: {enabled: true, addr: %q, key_prefix: "cl:"}
http: {addr: "127.0.0.1:0"}
whip: {enabled: false}
web: {enabled: false}
state_dir: %q
shutdown_timeout: 5s
`, model, clusterParts, node, clusterSession, clusterHeartbeat, filepath.Join(dir, node+".jsonl"), kafkaAddr, redis.Addr(), filepath.Join(dir, node+"-state"))
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfgA, cfgB, cfgC := config("a"), config("b"), config("c")

	// The cameras, through the CLI; a plain-text password is refused with a clear line.
	cli := func(args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := cli("cameras", "add", "--config", cfgA, "--id", "bad", "--url", "rtsp://admin:hunter2@10.0.0.1/live"); code != 1 ||
		!strings.Contains(out, "password in plain text") || strings.Contains(out, "hunter2") {
		t.Fatalf("camera with a plain password: exit %d\n%s", code, out)
	}
	var ids []string
	for i := range clusterCameras {
		id := fmt.Sprintf("cam%02d", i)
		ids = append(ids, id)
		if code, out := cli("cameras", "add", "--config", cfgA, "--id", id, "--url", video, "--loop"); code != 0 {
			t.Fatalf("cameras add %s: exit %d\n%s", id, code, out)
		}
	}
	if code, out := cli("cameras", "list", "--config", cfgA); code != 0 || strings.Count(out, "loop") != clusterCameras {
		t.Fatalf("cameras list: exit %d\n%s", code, out)
	}

	nodes := map[string]*served{"a": startServe(t, bin, cfgA, "--cluster"), "b": startServe(t, bin, cfgB, "--cluster"), "c": startServe(t, bin, cfgC, "--cluster")}
	live := []string{"a", "b", "c"}
	owned := func(names []string) (map[string]cluster.Self, string) {
		selves := map[string]cluster.Self{}
		count := map[string]int{}
		for _, n := range names {
			s, err := selfOf(nodes[n])
			if err != nil {
				return nil, err.Error()
			}
			selves[n] = s
			for _, c := range s.Cameras {
				count[c]++
			}
		}
		for _, id := range ids {
			if count[id] != 1 {
				return selves, fmt.Sprintf("camera %s has %d owners among %v: %+v", id, count[id], names, selves)
			}
		}
		gen := selves[names[0]].Generation
		for _, s := range selves {
			if s.State != cluster.StateMember || s.Generation != gen {
				return selves, fmt.Sprintf("nodes not in one generation yet: %+v", selves)
			}
		}
		return selves, ""
	}
	waitOwned := func(names []string, within time.Duration, what string) (map[string]cluster.Self, time.Duration) {
		t.Helper()
		t0 := time.Now()
		var selves map[string]cluster.Self
		var why string
		for {
			if selves, why = owned(names); why == "" {
				return selves, time.Since(t0)
			}
			if time.Since(t0) > within {
				t.Fatalf("%s: not one owner per camera within %v: %s", what, within, why)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// flowing waits until every camera has scored a clip that ended after since, on its owner:
	// each step starts from a settled cluster, so one gap spans one incident.
	flowing := func(names []string, since time.Time, what string) {
		t.Helper()
		var last map[string]float64
		testutil.WaitFor(t, 30*time.Second, func() bool {
			last = map[string]float64{}
			for _, n := range names {
				var v struct {
					Streams []struct {
						ID       string  `json:"id"`
						LastClip float64 `json:"last_clip_unix_s"`
					} `json:"streams"`
				}
				_, body := nodes[n].get("/api/streams")
				if json.Unmarshal([]byte(body), &v) != nil {
					return false
				}
				for _, st := range v.Streams {
					last[st.ID] = max(last[st.ID], st.LastClip)
				}
			}
			for _, id := range ids {
				if last[id] < float64(since.UnixMicro())/1e6 {
					return false
				}
			}
			return true
		}, func() string { return fmt.Sprintf("%s: not every camera scored a clip since then: %v", what, last) })
	}
	selves, _ := waitOwned(live, 30*time.Second, "start")
	flowing(live, time.Now(), "start")
	firstToken := selves["a"].Token
	steady := time.Now()

	// kill -9 of a: its cameras move within the session timeout + 2 s.
	killedAt := time.Now()
	nodes["a"].kill9()
	aHad := selves["a"].Cameras
	selves, _ = waitOwned([]string{"b", "c"}, 30*time.Second, "after kill -9")
	crashFailover := time.Since(killedAt)
	if bound := clusterSession + 2*time.Second; crashFailover > bound {
		t.Errorf("cameras of the killed node moved after %v, more than the session timeout + 2 s (%v)", crashFailover, bound)
	}
	before := partitionOwners(selves)
	flowing([]string{"b", "c"}, time.Now(), "after kill -9")
	// The survivors measured the failover: time since the dead owner's last state write.
	var measured []string
	for _, n := range []string{"b", "c"} {
		_, metrics := nodes[n].get("/metrics")
		m := regexp.MustCompile(`(?m)^actionstream_cluster_failover_seconds (\S+)$`).FindStringSubmatch(metrics)
		if m == nil {
			t.Fatalf("node %s: no actionstream_cluster_failover_seconds", n)
		}
		measured = append(measured, m[1])
		if v, _ := strconv.ParseFloat(m[1], 64); v < 1 || v > (clusterSession+3*time.Second).Seconds() {
			t.Errorf("node %s measured a failover of %v s after a kill -9 with a %v session timeout", n, v, clusterSession)
		}
	}

	// a comes back (same outbox): it takes its fair share, all from the others.
	nodes["a"] = startServe(t, bin, cfgA, "--cluster")
	joinedAt := time.Now()
	selves, _ = waitOwned(live, 30*time.Second, "after a rejoined")
	joinTook := time.Since(joinedAt)
	after := partitionOwners(selves)
	moved := 0
	for p, o := range after {
		if before[p] != o {
			moved++
			if o != "a" {
				t.Errorf("partition %d moved %s -> %s when a joined, not to the joining node", p, before[p], o)
			}
		}
	}
	if fair := (clusterParts + 2) / 3; moved > fair {
		t.Errorf("%d partitions moved when a node joined, more than its fair share %d", moved, fair)
	}
	flowing(live, time.Now(), "after a rejoined")

	// SIGSTOP of b: a zombie. Its cameras move; when it runs again its late state writes are
	// fenced and its late events carry its old generation.
	zombie := selves["b"]
	if err := nodes["b"].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	selves, _ = waitOwned([]string{"a", "c"}, 30*time.Second, "after SIGSTOP")
	pauseFailover := time.Since(stoppedAt)
	newToken := selves["a"].Token
	if newToken <= zombie.Token {
		t.Fatalf("the generation did not grow while b was stopped: %d, then %d", zombie.Token, newToken)
	}
	time.Sleep(500 * time.Millisecond) // the new owners write the moved cameras' hashes
	contAt := time.Now()
	if err := nodes["b"].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitOwned(live, 30*time.Second, "after SIGCONT")
	_, metrics := nodes["b"].get("/metrics")
	if m := regexp.MustCompile(`(?m)^actionstream_redis_fenced_writes_total (\d+)$`).FindStringSubmatch(metrics); m == nil || m[1] == "0" {
		t.Errorf("the resumed zombie's stale Redis writes were not rejected: %v", m)
	}
	for _, id := range zombie.Cameras {
		h := rc.HGetAll(context.Background(), "cl:stream:"+id).Val()
		if g, _ := strconv.ParseUint(h["generation"], 10, 64); g <= zombie.Token {
			t.Errorf("hash of %s carries generation %d, not the new owner's (> %d): %v", id, g, zombie.Token, h)
		}
	}

	// Let events flow, then stop every node cleanly (outboxes drain) and read Kafka.
	time.Sleep(2 * time.Second)
	end := time.Now()
	for _, n := range live {
		if code := nodes[n].stop(); code != 0 {
			t.Errorf("node %s exited %d after SIGTERM", n, code)
		}
	}
	emitted := map[string]bool{}
	for _, n := range live {
		for id := range jsonlIDs(t, filepath.Join(dir, n+".jsonl"), "") {
			emitted[id] = true
		}
	}
	recs := readAll(t, kafkaAddr, "ev", "clips")
	inKafka := map[string]bool{}
	clips := map[string][]time.Time{}
	zombieLate := 0
	for _, e := range recs {
		inKafka[e.ID] = true
		if e.Type != events.TypeClipScored {
			continue
		}
		if e.Generation == 0 {
			t.Fatalf("event %s without a generation", e.ID)
		}
		clips[e.Data.Stream] = append(clips[e.Data.Stream], e.Time)
		if e.Generation == zombie.Token && e.Time.After(contAt) && slices.Contains(zombie.Cameras, e.Data.Stream) {
			zombieLate++
		}
	}
	if lost := missing(emitted, inKafka); lost != nil {
		t.Errorf("%d of %d emitted events never reached Kafka (the killed node's outbox should drain on its return), e.g. %v",
			len(lost), len(emitted), lost[:min(3, len(lost))])
	}
	if zombieLate == 0 {
		t.Errorf("no event of the resumed zombie with its old generation %d after SIGCONT", zombie.Token)
	}
	clipSpan := 800 * time.Millisecond // the tiny model: 4 frames 6/30 s apart, plus the hop
	bound := clusterSession + 2*time.Second + clipSpan
	var worst time.Duration
	var worstFrom time.Time
	worstCam := ""
	for _, id := range ids {
		ts := clips[id]
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		prev := steady
		for _, at := range ts {
			if at.Before(steady) || at.After(end) {
				continue
			}
			if gap := at.Sub(prev); gap > worst {
				worst, worstCam, worstFrom = gap, id, prev
			}
			prev = at
		}
		if gap := end.Sub(prev); gap > worst {
			worst, worstCam = gap, id
		}
	}
	if worst > bound {
		t.Errorf("camera %s went %v without a scored clip, more than the failover bound + one clip span (%v); the gap began %v after the kill, %v after the restart, %v after the SIGSTOP",
			worstCam, worst, bound, worstFrom.Sub(killedAt), worstFrom.Sub(joinedAt), worstFrom.Sub(stoppedAt))
	}
	t.Logf("figures: kill -9 failover %v (session timeout %v), a join moved %d of %d partitions in %v, SIGSTOP failover %v, "+
		"worst clip gap %v (%s; bound %v), zombie late events %d, first token %d, %d events emitted, all in Kafka; cameras of a before the kill: %v; test took %v",
		crashFailover.Round(10*time.Millisecond), clusterSession, moved, clusterParts, joinTook.Round(10*time.Millisecond),
		pauseFailover.Round(10*time.Millisecond), worst.Round(10*time.Millisecond), worstCam, bound, zombieLate, firstToken,
		len(emitted), aHad, time.Since(start).Round(time.Second))
	t.Logf("the build took %v of it; actionstream_cluster_failover_seconds after the kill: %v", built.Round(time.Second), measured)
}

// selfOf reads a node's own membership from /api/cluster (the self part needs no broker).
func selfOf(s *served) (cluster.Self, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(s.base + "/api/cluster")
	if err != nil {
		return cluster.Self{}, err
	}
	defer resp.Body.Close()
	var v struct {
		Self cluster.Self `json:"self"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return cluster.Self{}, err
	}
	return v.Self, nil
}

func partitionOwners(selves map[string]cluster.Self) map[int]string {
	out := map[int]string{}
	for n, s := range selves {
		for _, p := range s.Partitions {
			out[p] = n
		}
	}
	return out
}

// readAll consumes topics from the start to their current end.
func readAll(t *testing.T, addr string, topics ...string) []events.Event {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []events.Event
	idle := 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for idle < 3 && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			e, err := events.ParseJSON(r.Value)
			if err != nil {
				t.Errorf("record %s[%d]@%d: %v", r.Topic, r.Partition, r.Offset, err)
				return
			}
			out = append(out, e)
		})
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return out
}
