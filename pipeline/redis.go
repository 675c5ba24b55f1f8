package pipeline

import (
	"context"
	"log/slog"

	"github.com/actionstream/actionstream/configs"
	"github.com/actionstream/actionstream/sink"
	"github.com/actionstream/actionstream/sink/redis"
)

// redisState adapts the Redis sink's stream-state hash to StateStore.
type redisState struct {
	s           *redis.Sink
	model       string
	modelDigest string
}

func (r *redisState) UpdateStream(ctx context.Context, st StreamStatus) error {
	return r.s.UpdateStream(ctx, redis.StreamState{Stream: st.ID, Status: st.Status, Reason: st.Reason, FPS: st.FPS,
		LastClip: st.LastClip, Model: r.model, ModelDigest: r.modelDigest})
}

func openRedis(c configs.Redis, buf sink.BufferConfig, log *slog.Logger) (sink.Sink, *redisState, error) {
	quietRedisClientLogs(log)
	s, err := redis.New(redis.Config{Addr: c.Addr, Password: c.Password, DB: c.DB, KeyPrefix: c.KeyPrefix,
		StateTTL: c.TTL.D(), Stream: c.Stream, Buffer: buf, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return s, &redisState{s: s}, nil
}
