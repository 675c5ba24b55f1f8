package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/actionstream/actionstream/events"
	"github.com/actionstream/actionstream/internal/testkit/sinktest"
	"github.com/actionstream/actionstream/sink/redis"
)

// Two owners of one camera, as after a rebalance the stale one has not noticed: the newer
// owner's hash is never overwritten by the stale one's writes (state updates or events), the
// rejections are counted, and the stale owner's events still reach the Redis Stream.
func TestStateWritesFencedByGeneration(t *testing.T) {
	srv := sinktest.StartRedis(t)
	c := srv.Client(t)
	ctx := context.Background()
	cfg := redis.Config{Addr: srv.Addr(), KeyPrefix: "fence:", Stream: "fence:events"}
	stale, err := redis.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close(ctx)
	newer, err := redis.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer newer.Close(ctx)

	if err := stale.UpdateStream(ctx, redis.StreamState{Stream: "cam7", Status: "up", FPS: 25, Generation: 4}); err != nil {
		t.Fatal(err)
	}
	if err := newer.UpdateStream(ctx, redis.StreamState{Stream: "cam7", Status: "up", FPS: 30, Generation: 5}); err != nil {
		t.Fatal(err)
	}
	// The stale owner keeps writing: state ticks and its events.
	if err := stale.UpdateStream(ctx, redis.StreamState{Stream: "cam7", Status: "down", Reason: "stale", FPS: 1, Generation: 4}); err != nil {
		t.Fatal(err)
	}
	ev := event("cam7", events.TypeStreamDown, "stale", 0, time.Now())
	ev.Generation = 4
	if err := stale.Write(ctx, []events.Event{ev}); err != nil {
		t.Fatal(err)
	}
	h := c.HGetAll(ctx, "fence:stream:cam7").Val()
	if h["generation"] != "5" || h["fps"] != "30.00" || h["status"] != "up" {
		t.Fatalf("the stale owner overwrote the newer one's hash: %v", h)
	}
	if got := stale.Fenced(); got != 2 {
		t.Errorf("stale owner: %d fenced writes counted, want 2", got)
	}
	if got := newer.Fenced(); got != 0 {
		t.Errorf("newer owner: %d fenced writes, want 0", got)
	}
	if got := streamEntries(t, c, "fence:events"); len(got) != 1 || got[0].Generation != 4 {
		t.Errorf("the stale owner's event is not in the Redis Stream with its generation: %+v", got)
	}
	// The same generation writes (two writes of one owner), and a larger one takes over.
	if err := newer.UpdateStream(ctx, redis.StreamState{Stream: "cam7", Status: "up", FPS: 29, Generation: 5}); err != nil {
		t.Fatal(err)
	}
	if err := stale.UpdateStream(ctx, redis.StreamState{Stream: "cam7", Status: "up", FPS: 12, Generation: 1<<32 + 1}); err != nil {
		t.Fatal(err)
	}
	if h := c.HGetAll(ctx, "fence:stream:cam7").Val(); h["generation"] != "4294967297" || h["fps"] != "12.00" {
		t.Errorf("a larger token (a restarted sequence's epoch 1) did not take over: %v", h)
	}
	if ttl := c.PTTL(ctx, "fence:stream:cam7").Val(); ttl <= 0 {
		t.Errorf("the fenced write set no TTL: %v", ttl)
	}
}
