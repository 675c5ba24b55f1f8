package pipeline

import (
	"context"

	"github.com/actionstream/actionstream/sink/redis"
)

// redisState adapts the Redis sink's stream-state hash to StateStore.
type redisState struct {
	s           *redis.Sink
	model       string
	modelDigest string
	generation  func() uint64
}

func (r *redisState) UpdateStream(ctx context.Context, st StreamStatus) error {
	return r.s.UpdateStream(ctx, redis.StreamState{Stream: st.ID, Status: st.Status, Reason: st.Reason, FPS: st.FPS,
		LastClip: st.LastClip, Model: r.model, ModelDigest: r.modelDigest, Generation: r.generation()})
}

// RedisFencedWrites counts stream-state writes Redis rejected because a node with a newer
// generation owns the stream (0 without Redis).
func (p *Pipeline) RedisFencedWrites() uint64 {
	if rs, ok := p.state.(*redisState); ok {
		return rs.s.Fenced()
	}
	return 0
}
