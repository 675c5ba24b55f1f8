package sinktest

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit/testutil"
)

// Kafka is an in-process Kafka-protocol broker (kfake) that can be stopped and started again on
// the same port with the same data directory, like a restarted broker. It counts produce
// requests by their acks setting.
type Kafka struct {
	t      testing.TB
	port   int
	dir    string
	topics []string
	c      *kfake.Cluster

	mu   sync.Mutex
	acks map[int16]int
}

// StartKafka starts a broker with the topics (4 partitions each); it stops when t ends.
func StartKafka(t testing.TB, topics ...string) *Kafka {
	k := &Kafka{t: t, port: testutil.FreePort(t), dir: t.TempDir(), topics: topics, acks: map[int16]int{}}
	k.Start()
	t.Cleanup(k.Stop)
	return k
}

// Addr is the broker's "host:port".
func (k *Kafka) Addr() string { return "127.0.0.1:" + strconv.Itoa(k.port) }

// Start (re)starts the broker; data produced before a Stop is still there.
func (k *Kafka) Start() {
	k.t.Helper()
	var c *kfake.Cluster
	var err error
	// The port was just released by the previous cluster; retry briefly if the OS still holds it.
	for range 50 {
		c, err = kfake.NewCluster(kfake.Ports(k.port), kfake.DataDir(k.dir), kfake.SeedTopics(4, k.topics...))
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		k.t.Fatalf("start kfake on port %d: %v", k.port, err)
	}
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.mu.Lock()
		k.acks[req.(*kmsg.ProduceRequest).Acks]++
		k.mu.Unlock()
		return nil, nil, false // observe only; the cluster handles the request
	})
	k.c = c
}

// Stop stops the broker (idempotent).
func (k *Kafka) Stop() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// ProduceAcks returns how many produce requests the broker got per acks value.
func (k *Kafka) ProduceAcks() map[int16]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.acks)
}

// Redis is a real redis-server process on a free loopback port, without persistence, that a
// test can kill and start again on the same port.
type Redis struct {
	t    testing.TB
	bin  string
	port int
	cmd  *exec.Cmd
	log  bytes.Buffer // the server's output, shown if the test fails
}

// RedisBinary finds redis-server (Debian package redis-server, installed by scripts/setup).
func RedisBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server"
	}
	t.Fatal("redis-server not found: install Debian's redis-server package (scripts/setup does)")
	return ""
}

// StartRedis starts redis-server and waits until it answers PING; it is killed when t ends.
func StartRedis(t testing.TB) *Redis {
	r := &Redis{t: t, bin: RedisBinary(t), port: testutil.FreePort(t)}
	r.Start()
	t.Cleanup(func() {
		r.Kill()
		if t.Failed() {
			t.Logf("redis-server output:\n%s", r.log.String())
		}
	})
	return r
}

// Addr is the server's "host:port".
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Start starts the server (again, empty) on its port and waits for PING.
func (r *Redis) Start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir(), "--loglevel", "warning")
	r.cmd.Stdout, r.cmd.Stderr = &r.log, &r.log
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on port %d did not answer PING", r.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the server abruptly (SIGKILL), like a crash, and waits for the process.
func (r *Redis) Kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Client returns a client of the server, closed when t ends.
func (r *Redis) Client(t testing.TB) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// WaitFor polls cond until it holds, failing t after 20 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Record is one Kafka record as a consumer sees it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       string
	Value     []byte
	Headers   map[string]string
}

// ConsumeKafka reads topics from the start until want distinct event ids have been seen (every
// value must parse with events.ParseJSON), and returns all records read, repeats included.
func ConsumeKafka(t testing.TB, addr string, topics []string, want int) []Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []Record
	ids := map[string]bool{}
	for len(ids) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d distinct events of %d before timeout", len(ids), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			out = append(out, Record{r.Topic, r.Partition, r.Offset, string(r.Key), r.Value, h})
			ev, err := events.ParseJSON(r.Value)
			if err != nil {
				t.Errorf("record %s[%d]@%d: %v", r.Topic, r.Partition, r.Offset, err)
				return
			}
			ids[ev.ID] = true
		})
	}
	return out
}
