package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit"
	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// TestChaosKill9 is the crash test of the durable outbox, with real processes: `serve` runs a
// looping file into a JSON-lines file, Kafka (kfake, in this process, empty: serve creates the
// topics) and a real redis-server (Redis Stream on). Kafka is stopped, so its events pile up in the outbox, and serve is killed
// with SIGKILL. serve is started again with the config changed to another stream, Kafka comes
// back, and every event id of the JSON-lines file, clip.scored included, of both runs, is found
// in Kafka and in the Redis Stream: nothing is lost. On the way /readyz says why it is not
// ready while Kafka is down, and /metrics shows the outbox holding Kafka's events.
func TestChaosKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it twice")
	}
	dir := chaosDir(t)
	bin := filepath.Join(dir, "actionstream")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	model := testkit.TinyModel(t)
	video := testkit.MakeVideo(t, dir, testkit.Video{FPS: "30", Seconds: 2})
	kafka := sinktest.StartKafka(t) // empty: serve creates its topics at start
	redis := sinktest.StartRedis(t)
	eventsPath := filepath.Join(dir, "events.jsonl")
	stateDir := filepath.Join(dir, "state")

	config := func(name, stream string) string {
		path := filepath.Join(dir, name+".yaml")
		cfg := fmt.Sprintf(`model: {path: %q, runtime: {threads: 1}}
streams:
  - {id: %s, url: %q, loop: true}
events: {clip_scored: true}
sinks:
  jsonl: {enabled: true, path: %q}
  kafka: {enabled: true, brokers: [%q], topic: chaos.events, clip_topic: chaos.clips, batch_timeout: 5ms, write_timeout: 1s}
  redis: {enabled: true, addr: %q, key_prefix: "chaos:", stream: "chaos:events"}
  down_grace: 1s
http: {addr: "127.0.0.1:0"}
whip: {enabled: false}
web: {enabled: false}
state_dir: %q
shutdown_timeout: 10s
`, model, stream, video, eventsPath, kafka.Addr(), redis.Addr(), stateDir)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// Run 1: camera "dock" until events flow, then Kafka goes down and events pile up.
	first := startServe(t, bin, config("first", "dock"))
	testutil.WaitFor(t, 30*time.Second, func() bool { return len(jsonlIDs(t, eventsPath, "")) >= 5 },
		func() string { return "too few events in the file\n" + first.stderr.String() })
	if log := first.stderr.String(); strings.Count(log, `msg="kafka topic created"`) != 2 {
		t.Errorf("serve did not create its two topics on the empty broker:\n%s", log)
	}
	kafka.Stop()
	before := len(jsonlIDs(t, eventsPath, ""))
	testutil.WaitFor(t, 30*time.Second, func() bool { return len(jsonlIDs(t, eventsPath, "")) >= before+10 },
		func() string { return "no events while Kafka is down\n" + first.stderr.String() })
	testutil.WaitFor(t, 20*time.Second, func() bool {
		code, body := first.get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "sink kafka down for")
	}, func() string { _, b := first.get("/readyz"); return "/readyz while Kafka is down: " + b })
	_, metrics := first.get("/metrics")
	if m := regexp.MustCompile(`actionstream_outbox_lag\{sink="kafka"\} (\d+)`).FindStringSubmatch(metrics); m == nil || m[1] == "0" {
		t.Errorf("/metrics does not show Kafka's events waiting in the outbox: %v", m)
	}
	for _, want := range []string{`actionstream_sink_up{sink="kafka"} 0`, `actionstream_event_latency_seconds_bucket{sink="jsonl"`, "actionstream_outbox_entries "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	first.kill9()
	crashed := jsonlIDs(t, eventsPath, "")
	if n := len(jsonlIDs(t, eventsPath, events.TypeClipScored)); n == 0 {
		t.Fatal("no clip.scored in the file before the crash")
	}

	// Run 2: the config now names another camera; Kafka comes back after the start.
	second := startServe(t, bin, config("second", "gate"))
	kafka.Start()
	testutil.WaitFor(t, 30*time.Second, func() bool { return len(jsonlIDs(t, eventsPath, "gate")) >= 3 },
		func() string { return "no events of the second run\n" + second.stderr.String() })
	if log := second.stderr.String(); !strings.Contains(log, `msg="outbox opened with stored entries"`) {
		t.Errorf("the restart does not say it found stored events:\n%s", log)
	}
	all := jsonlIDs(t, eventsPath, "")
	inKafka := kafkaIDs(t, kafka.Addr(), all)
	rc := redis.Client(t)
	inRedis := redisIDs(t, rc)
	testutil.WaitFor(t, 30*time.Second, func() bool {
		inRedis = redisIDs(t, rc)
		return missing(all, inRedis) == nil
	}, func() string { return fmt.Sprintf("Redis Stream lacks %d events", len(missing(all, inRedis))) })
	if lost := missing(all, inKafka); lost != nil {
		t.Errorf("%d of %d events never reached Kafka (%d were in the file at the crash), e.g. %v", len(lost), len(all), len(crashed), lost[:min(3, len(lost))])
	}
	testutil.WaitFor(t, 20*time.Second, func() bool { code, _ := second.get("/readyz"); return code == http.StatusOK },
		func() string { _, b := second.get("/readyz"); return "not ready after Kafka is back: " + b })
	if code := second.stop(); code != 0 {
		t.Errorf("second serve exited %d after SIGTERM:\n%s", code, second.stderr.String())
	}
	t.Logf("%d events in the file (%d at the crash), all in Kafka and Redis", len(all), len(crashed))
}

// chaosDir is a temporary directory, or, with CHAOS_KEEP_DIR set (scripts/chaos), a
// new directory under it that is kept: configs, events.jsonl, the outbox and both serve logs.
func chaosDir(t *testing.T) string {
	keep := os.Getenv("CHAOS_KEEP_DIR")
	if keep == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(keep, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(keep, "run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("keeping the run in %s", dir)
	return dir
}

type served struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *testutil.SyncBuffer
	base   string
	exited chan int
}

// startServe runs `bin serve --config cfg [extra flags]` and waits for its HTTP address.
func startServe(t *testing.T, bin, cfg string, extra ...string) *served {
	t.Helper()
	s := &served{t: t, stderr: &testutil.SyncBuffer{}, exited: make(chan int, 1)}
	s.cmd = exec.Command(bin, append([]string{"serve", "--config", cfg}, extra...)...)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		s.exited <- s.cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
		_ = os.WriteFile(strings.TrimSuffix(cfg, ".yaml")+".log", []byte(s.stderr.String()), 0o644)
		if t.Failed() {
			t.Logf("serve %s stderr:\n%s", filepath.Base(cfg), s.stderr.String())
		}
	})
	addrRE := regexp.MustCompile(`msg="http listening".*addr=(127\.0\.0\.1:\d+)`)
	testutil.WaitFor(t, 30*time.Second, func() bool {
		if m := addrRE.FindStringSubmatch(s.stderr.String()); m != nil {
			s.base = "http://" + m[1]
			return true
		}
		return false
	}, func() string { return "no listening line in:\n" + s.stderr.String() })
	return s
}

func (s *served) get(path string) (int, string) {
	resp, err := http.Get(s.base + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// kill9 ends the process with SIGKILL: no shutdown code runs.
func (s *served) kill9() {
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	code := <-s.exited
	s.exited <- code
}

// stop sends SIGTERM and returns the exit code.
func (s *served) stop() int {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case code := <-s.exited:
		s.exited <- code
		return code
	case <-time.After(30 * time.Second):
		s.t.Fatal("serve did not stop within 30 s of SIGTERM")
		return -1
	}
}

// jsonlIDs returns the ids in the JSON-lines file, of one stream (or all, "") or one type.
func jsonlIDs(t *testing.T, path, filter string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		e, err := events.ParseJSON(sc.Bytes())
		if err != nil {
			continue // a line cut by the kill; it is not an event the file holds
		}
		if filter == "" || e.Data.Stream == filter || e.Type == filter {
			ids[e.ID] = true
		}
	}
	return ids
}

// kafkaIDs consumes both topics from the start until every id of want is seen or 20 s pass.
func kafkaIDs(t *testing.T, addr string, want map[string]bool) map[string]bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("chaos.events", "chaos.clips"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := map[string]bool{}
	for missing(want, got) != nil && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if e, err := events.ParseJSON(r.Value); err == nil {
				got[e.ID] = true
			}
		})
	}
	return got
}

func redisIDs(t *testing.T, c *goredis.Client) map[string]bool {
	t.Helper()
	entries, err := c.XRange(context.Background(), "chaos:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, x := range entries {
		if id, ok := x.Values["id"].(string); ok {
			ids[id] = true
		}
	}
	return ids
}

func missing(want, got map[string]bool) []string {
	var out []string
	for id := range want {
		if !got[id] {
			out = append(out, id)
		}
	}
	return out
}
