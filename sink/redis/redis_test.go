package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/actionstream/actionstream/confkit"
	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/redis"
)

// bufferedRedis is the Redis sink as the daemon runs it: events behind sink.Buffered (with fast
// retries here), stream state written directly.
type bufferedRedis struct {
	*sink.Buffered
	r *redis.Sink
}

func (b bufferedRedis) UpdateStream(ctx context.Context, st redis.StreamState) error {
	return b.r.UpdateStream(ctx, st)
}

func (b bufferedRedis) DeleteStream(ctx context.Context, stream string) error {
	return b.r.DeleteStream(ctx, stream)
}

func open(cfg redis.Config) (bufferedRedis, error) {
	r, err := redis.New(cfg)
	if err != nil {
		return bufferedRedis{}, err
	}
	buf := sink.BufferConfig{Name: "redis", Capacity: 2000, MaxBatch: 50, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
	return bufferedRedis{Buffered: sink.NewBuffered(r, buf), r: r}, nil
}

// streamEntries reads the Redis Stream and checks every entry against the contract.
func streamEntries(t *testing.T, c *goredis.Client, key string) []events.Event {
	t.Helper()
	msgs, err := c.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]events.Event, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["event"].(string)
		ev, err := events.ParseJSON([]byte(raw))
		if err != nil {
			t.Fatalf("entry %s: %v", m.ID, err)
		}
		if m.Values["id"] != ev.ID || m.Values["type"] != ev.Type || m.Values["stream"] != ev.Data.Stream {
			t.Fatalf("entry %s: fields %v disagree with the event", m.ID, m.Values)
		}
		out = append(out, ev)
	}
	return out
}

func ids(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// dedup keeps the first occurrence of each id, failing if a repeat differs.
func dedup(t *testing.T, evs []events.Event) []events.Event {
	t.Helper()
	seen := map[string]events.Event{}
	var out []events.Event
	for _, ev := range evs {
		if prev, ok := seen[ev.ID]; ok {
			if prev.Type != ev.Type || !prev.Time.Equal(ev.Time) {
				t.Fatalf("id %s repeated with different contents", ev.ID)
			}
			continue
		}
		seen[ev.ID] = ev
		out = append(out, ev)
	}
	return out
}

func equalIDs(t *testing.T, what string, got, want []events.Event) {
	t.Helper()
	g, w := ids(got), ids(want)
	if len(g) != len(w) {
		t.Fatalf("%s: %d events, want %d", what, len(g), len(w))
	}
	for i := range w {
		if g[i] != w[i] {
			t.Fatalf("%s: event %d is %s, want %s", what, i, g[i], w[i])
		}
	}
}

// event makes a valid event of the given type; score is the label's (or the top-1) score.
func event(stream, typ, label string, score float32, at time.Time) events.Event {
	d := events.Data{Stream: stream, Model: "x3d-s", ModelDigest: "sha256:" + strings.Repeat("ab", 32)}
	id := events.StreamID(stream, typ, at, label)
	switch typ {
	case events.TypeStreamUp, events.TypeStreamDown:
		d.Reason = label
	default:
		d.Span = &events.Span{StartWall: at.Add(-time.Second), EndWall: at, StartPTS: 1, EndPTS: 2}
		d.Label, d.Score = label, score
		if typ == events.TypeClipScored {
			d.Label = "walking"
			d.TopK = []events.LabelScore{{Label: "walking", Score: score}}
			id = events.ClipID(stream, time.Second, 2*time.Second, at)
		} else {
			id = events.ActionID(stream, typ, label, time.Second, at, 0)
		}
		if typ == events.TypeActionEnded {
			d.DurationSeconds, d.PeakScore = 2, max(score, 0.9)
		}
	}
	ev := events.New(events.SourceFor("", stream), typ, id, at, d)
	if err := events.Validate(ev); err != nil {
		panic(err)
	}
	return ev
}

func TestStreamStateAndEventStream(t *testing.T) {
	sinktest.CheckGoroutines(t)
	srv := sinktest.StartRedis(t)
	s, err := open(redis.Config{Addr: srv.Addr(), KeyPrefix: "t:", StateTTL: confkit.Duration(time.Minute), Stream: "t:events"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	if err := s.UpdateStream(ctx, redis.StreamState{Stream: "cam", Status: redis.StatusUp, FPS: 29.97}); err != nil {
		t.Fatal(err)
	}
	evs := []events.Event{
		event("cam", events.TypeClipScored, "", 0.4, t0),
		event("cam", events.TypeActionStarted, "waving", 0.81, t0.Add(time.Second)),
		event("cam", events.TypeActionStarted, "falling", 0.9, t0.Add(2*time.Second)),
		event("cam", events.TypeActionUpdated, "waving", 0.86, t0.Add(3*time.Second)),
		event("cam", events.TypeActionEnded, "falling", 0.2, t0.Add(4*time.Second)),
		event("cam", events.TypeClipScored, "", 0.5, t0.Add(5*time.Second)),
		event("yard", events.TypeStreamDown, "stalled", 0, t0.Add(5*time.Second)),
	}
	if err := s.Write(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateStream(ctx, redis.StreamState{Stream: "cam"}); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("UpdateStream after Close: %v", err)
	}

	c := srv.Client(t)
	h, err := c.HGetAll(ctx, "t:stream:cam").Result()
	if err != nil {
		t.Fatal(err)
	}
	if h["stream"] != "cam" || h["status"] != "up" || h["fps"] != "29.97" || h["model"] != "x3d-s" || h["model_digest"] != "sha256:"+strings.Repeat("ab", 32) {
		t.Fatalf("hash: %v", h)
	}
	if want := t0.Add(5 * time.Second).Format(time.RFC3339Nano); h["last_clip_time"] != want {
		t.Fatalf("last_clip_time %q, want %q", h["last_clip_time"], want)
	}
	var actions []redis.Action
	if err := json.Unmarshal([]byte(h["actions"]), &actions); err != nil {
		t.Fatalf("actions %q: %v", h["actions"], err)
	}
	if len(actions) != 1 || actions[0].Label != "waving" || actions[0].Score != 0.86 || actions[0].ID != evs[1].ID ||
		!actions[0].StartedAt.Equal(t0) || !actions[0].UpdatedAt.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("active actions: %+v", actions)
	}
	if ttl := c.PTTL(ctx, "t:stream:cam").Val(); ttl <= 50*time.Second || ttl > time.Minute {
		t.Fatalf("TTL %v, want just under 1m", ttl)
	}
	yard := c.HGetAll(ctx, "t:stream:yard").Val()
	if yard["status"] != "down" || yard["reason"] != "stalled" || yard["actions"] != "[]" {
		t.Fatalf("yard hash: %v", yard)
	}
	equalIDs(t, "redis stream", streamEntries(t, c, "t:events"), evs)
}

func TestStateTTLRefreshedOnWriteThenExpires(t *testing.T) {
	srv := sinktest.StartRedis(t)
	s, err := open(redis.Config{Addr: srv.Addr(), StateTTL: confkit.Duration(1500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	ctx := context.Background()
	c := srv.Client(t)
	key := "actionstream:stream:cam"
	if err := s.UpdateStream(ctx, redis.StreamState{Stream: "cam", Status: redis.StatusUp, FPS: 25}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond)
	if err := s.UpdateStream(ctx, redis.StreamState{Stream: "cam", FPS: 24.5}); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, key).Val(); ttl < time.Second {
		t.Fatalf("TTL %v after a write, want refreshed to ~1.5s", ttl)
	}
	if h := c.HGetAll(ctx, key).Val(); h["status"] != "up" || h["fps"] != "24.50" {
		t.Fatalf("status must survive an update without one: %v", h)
	}
	time.Sleep(800 * time.Millisecond)
	if err := s.Write(ctx, []events.Event{event("cam", events.TypeActionStarted, "run", 0.7, time.Now())}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.PTTL(ctx, key).Val() < time.Second {
		if time.Now().After(deadline) {
			t.Fatal("an event write did not refresh the TTL")
		}
		time.Sleep(5 * time.Millisecond)
	}
	deadline = time.Now().Add(5 * time.Second)
	for c.Exists(ctx, key).Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("state of a silent stream did not expire")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.DeleteStream(ctx, "cam"); err != nil {
		t.Fatal(err)
	}
}

func TestEventStreamIsCapped(t *testing.T) {
	sinktest.CheckGoroutines(t)
	srv := sinktest.StartRedis(t)
	s, err := open(redis.Config{Addr: srv.Addr(), Stream: "events", StreamMaxLen: 100})
	if err != nil {
		t.Fatal(err)
	}
	evs := sinktest.Stream("cam", 1500)
	if err := s.Write(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := streamEntries(t, srv.Client(t), "events")
	// MAXLEN ~ trims whole radix-tree nodes (100 entries by default): at least 100 stay, far
	// fewer than written, and the newest are the last ones written.
	if len(got) < 100 || len(got) > 300 {
		t.Fatalf("stream length %d with MAXLEN ~ 100", len(got))
	}
	equalIDs(t, "newest entries", got, evs[len(evs)-len(got):])
}

func TestRedisKilledMidRunBufferedEventsArriveAfterRestart(t *testing.T) {
	sinktest.CheckGoroutines(t)
	srv := sinktest.StartRedis(t)
	s, err := open(redis.Config{Addr: srv.Addr(), Stream: "events", DialTimeout: confkit.Duration(200 * time.Millisecond), IOTimeout: confkit.Duration(500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	all := sinktest.Interleave(sinktest.Stream("cam-1", 90), sinktest.Stream("cam-2", 90))
	first, second, third := all[:60], all[60:120], all[120:]
	write := func(evs []events.Event) {
		for i := 0; i < len(evs); i += 3 {
			if err := s.Write(ctx, evs[i:i+3]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.UpdateStream(ctx, redis.StreamState{Stream: "cam-1", Status: redis.StatusUp, FPS: 30}); err != nil {
		t.Fatal(err)
	}
	write(first)
	sinktest.WaitFor(t, "first part delivered", func() bool { return s.Stats().Delivered == uint64(len(first)) })

	srv.Kill()
	write(second) // accepted into the buffer while Redis is gone
	sinktest.WaitFor(t, "failures noticed", func() bool { st := s.Stats(); return st.Errors > 0 && !st.Up })
	if st := s.Stats(); st.Buffered != len(second) {
		t.Fatalf("buffered %d while Redis is down, want %d: %+v", st.Buffered, len(second), st)
	}
	// A state update while Redis is down fails but is kept (latest wins).
	if err := s.UpdateStream(ctx, redis.StreamState{Stream: "cam-1", FPS: 12.5}); err == nil {
		t.Fatal("UpdateStream succeeded with Redis down")
	}

	time.Sleep(300 * time.Millisecond) // let retries pile up against the dead server
	srv.Start()                        // same port, empty: no persistence
	write(third)
	closeCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.Close(closeCtx); err != nil {
		t.Fatalf("Close: %v (stats %+v)", err, s.Stats())
	}
	st := s.Stats()
	if st.Delivered != uint64(len(all)) || st.Undelivered != 0 || st.Retries == 0 {
		t.Fatalf("stats: %+v", st)
	}

	c := srv.Client(t)
	// The restarted server lost the first part with its memory; everything written from the
	// outage on must be there, once per id, in order.
	want := append(append([]events.Event(nil), second...), third...)
	equalIDs(t, "events after restart", dedup(t, streamEntries(t, c, "events")), want)
	h := c.HGetAll(ctx, "actionstream:stream:cam-1").Val()
	if h["status"] != "up" || h["fps"] != "12.50" || h["model"] != "x3d-xs" {
		t.Fatalf("state after restart must be rewritten whole from memory: %v", h)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := redis.New(redis.Config{}); !errors.Is(err, redis.ErrConfig) {
		t.Fatalf("no address: %v", err)
	}
}

// A detection model's actions are stored per (actor, label): two actors waving are two actions,
// each with its actor and latest box, and one ending leaves the other.
func TestActionsPerActor(t *testing.T) {
	srv := sinktest.StartRedis(t)
	s, err := open(redis.Config{Addr: srv.Addr(), KeyPrefix: "a:", StateTTL: confkit.Duration(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	withActor := func(e events.Event, actor string, x float32) events.Event {
		e.Data.ActorID, e.Data.Box = actor, &events.Box{X1: x, Y1: 0.1, X2: x + 0.2, Y2: 0.5}
		e.ID = events.ActorActionID("cam", actor, e.Type, e.Data.Label, time.Second, t0, 0)
		return e
	}
	evs := []events.Event{
		withActor(event("cam", events.TypeActionStarted, "waving", 0.8, t0), "1", 0.1),
		withActor(event("cam", events.TypeActionStarted, "waving", 0.7, t0), "2", 0.6),
		withActor(event("cam", events.TypeActionUpdated, "waving", 0.9, t0.Add(time.Second)), "1", 0.15),
		withActor(event("cam", events.TypeActionEnded, "waving", 0.2, t0.Add(2*time.Second)), "2", 0.6),
	}
	if evs[0].ID == evs[1].ID {
		t.Fatal("two actors' starts share an id")
	}
	if err := s.Write(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var actions []redis.Action
	raw := srv.Client(t).HGet(ctx, "a:stream:cam", "actions").Val()
	if err := json.Unmarshal([]byte(raw), &actions); err != nil {
		t.Fatalf("actions %q: %v", raw, err)
	}
	if len(actions) != 1 || actions[0].ActorID != "1" || actions[0].Label != "waving" || actions[0].Score != 0.9 ||
		actions[0].Box == nil || actions[0].Box.X1 != 0.15 || actions[0].ID != evs[0].ID {
		t.Fatalf("actions %s, want actor 1's waving with its latest box", raw)
	}
}
