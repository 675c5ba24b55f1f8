package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/actionstream/actionstream/internal/testkit/sinktest"
)

// runMember runs a member until the returned stop is called (stop waits for it).
func runMember(t *testing.T, opts Options) (*Member, func()) {
	t.Helper()
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	return m, func() { cancel(); wg.Wait() }
}

func waitMember(t *testing.T, m *Member, minGen int32) Self {
	t.Helper()
	var s Self
	waitUntil(t, 15*time.Second, func() string {
		s = m.SelfView()
		if s.State != StateMember || s.Generation < minGen {
			return fmt.Sprintf("member %s: %+v", m.Node(), s)
		}
		return ""
	})
	return s
}

// A group that is deleted (or expires) starts its generations again at 1. The registry in
// Redis sees a smaller generation that nobody refreshes any more and opens a new epoch, so
// the new members' tokens are above every token of the old sequence instead of below.
func TestGenerationSequenceRestart(t *testing.T) {
	addr := startBroker(t)
	redis := sinktest.StartRedis(t)
	rc := redis.Client(t)
	opts := func(node string, r *fakeRunner) Options {
		return Options{Config: testConfig(node), Brokers: []string{addr}, Runner: r, Redis: rc, RedisPrefix: "rs:"}
	}
	r1 := newFakeRunner()
	m1, stop1 := runMember(t, opts("n1", r1))
	waitMember(t, m1, 1)
	// A second member joining and leaving moves the sequence on.
	m2, stop2 := runMember(t, opts("n2", newFakeRunner()))
	waitMember(t, m2, 2)
	stop2()
	old := waitMember(t, m1, 3)
	if old.Token != Token(0, old.Generation) || r1.tokenNow() != old.Token {
		t.Fatalf("epoch 0 token %d for generation %d (runner has %d)", old.Token, old.Generation, r1.tokenNow())
	}
	stop1()

	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 5 * time.Second, Transport: tr}
	res, err := cl.DeleteGroups(context.Background(), &kafkago.DeleteGroupsRequest{GroupIDs: []string{"g"}})
	if err != nil || res.Errors["g"] != nil {
		t.Fatalf("delete group: %v %v", err, res)
	}
	r3 := newFakeRunner()
	m3, stop3 := runMember(t, opts("n3", r3))
	defer stop3()
	s := waitMember(t, m3, 1)
	if s.Generation >= old.Generation {
		t.Fatalf("the deleted group did not restart its generations: %d after %d", s.Generation, old.Generation)
	}
	waitUntil(t, 10*time.Second, func() string {
		if s = m3.SelfView(); s.Token <= old.Token || s.Epoch != 1 {
			return fmt.Sprintf("token %d (epoch %d, generation %d) not above the old sequence's %d", s.Token, s.Epoch, s.Generation, old.Token)
		}
		return ""
	})
	if got := r3.tokenNow(); got != s.Token {
		t.Errorf("the runner stamps %d, the member holds %d", got, s.Token)
	}
}
